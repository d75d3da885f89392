#pragma once
// Training: the Learner, its history and the one-cycle schedule.
#include "ember/train/learner.hpp"
