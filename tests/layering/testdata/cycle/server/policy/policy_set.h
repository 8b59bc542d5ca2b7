// A policy header that reaches up into the engine: closes a cycle.
#include "server/engine/engine.h"
#include "server/model/value.h"
