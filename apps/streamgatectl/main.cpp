// streamgatectl: see src/ctl/ctl.hpp.
#include <iostream>
#include <string>
#include <vector>

#include "ctl/ctl.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return streamgate::ctl::RunCtl(args, std::cout, std::cerr,
                                 streamgate::ctl::CtlEnvironment::FromProcess());
}
