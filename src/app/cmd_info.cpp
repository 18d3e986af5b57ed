#include "sarscale/app/commands.hpp"
namespace sarscale::app {
int cmd_info(const dist::Comm&, const CommandLine&) { return 3; }
}
