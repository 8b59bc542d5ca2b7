#include "server/engine/engine.h"
