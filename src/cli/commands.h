// Each `gemma` subcommand registers itself on the CLI11 app.
#pragma once
#include <CLI/CLI.hpp>

namespace gemma {

void AddGenerateCommand(CLI::App& app);
void AddLogitsCommand(CLI::App& app);
void AddInfoCommand(CLI::App& app);
void AddBenchCommand(CLI::App& app);
void AddInitRandomCommand(CLI::App& app);
void AddQuantizeCommand(CLI::App& app);
// Defined in src/server (library gemma_server).
void AddServeCommand(CLI::App& app);
void AddTokenizeCommands(CLI::App& app);
void AddImageEmbedCommand(CLI::App& app);
void AddChatCommand(CLI::App& app);

}  // namespace gemma
