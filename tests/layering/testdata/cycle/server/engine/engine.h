#include "server/policy/policy_set.h"
