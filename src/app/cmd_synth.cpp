#include "sarscale/app/commands.hpp"
namespace sarscale::app {
int cmd_synth(const dist::Comm&, const CommandLine&) { return 3; }
}
