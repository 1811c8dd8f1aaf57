// The `gemma` command-line tool: one binary, one subcommand per job.
#include <cstdio>
#include <exception>

#include "base/error.h"
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"gemma: Gemma 3 and T5Gemma 2 inference on the CPU"};
  app.require_subcommand(1);
  gemma::AddGenerateCommand(app);
  gemma::AddLogitsCommand(app);
  gemma::AddInfoCommand(app);
  gemma::AddBenchCommand(app);
  gemma::AddInitRandomCommand(app);
  gemma::AddQuantizeCommand(app);
  gemma::AddServeCommand(app);
  gemma::AddTokenizeCommands(app);
  gemma::AddImageEmbedCommand(app);
  gemma::AddChatCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const gemma::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
