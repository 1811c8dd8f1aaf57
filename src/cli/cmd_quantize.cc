// gemma quantize: a checkpoint folder whose matrices are stored as q8_0 /
// q4_0 (GGUF block layout, dtype "Q8_0" / "Q4_0", logical [rows, cols]
// shapes), so that later loads map them with no work. Norms, 1-D tensors and
// anything the text model does not read (vision tower) are copied unchanged.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "base/error.h"
#include "cli/commands.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/weights.h"
#include "runtime/engine.h"

namespace gemma {

namespace fs = std::filesystem;

void AddQuantizeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "write a copy of a checkpoint with q8_0 / q4_0 weight matrices");
  auto model = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto dtype = std::make_shared<std::string>();
  auto embed_dtype = std::make_shared<std::string>();
  cmd->add_option("--model", *model, "checkpoint folder (config.json + *.safetensors)")->required();
  cmd->add_option("--out", *out, "output folder (created)")->required();
  cmd->add_option("--dtype", *dtype, "dtype of the layer matrices: q8_0 | q4_0 | bf16")->required();
  cmd->add_option("--embed-dtype", *embed_dtype, "dtype of the embedding / LM head (default: as --dtype)");
  cmd->callback([=] {
    if (!fs::is_directory(*model)) {
      if (IsGgufFile(*model)) throw Error(*model + ": quantize reads checkpoint folders, not GGUF files");
      throw Error(*model + ": not a checkpoint folder");
    }
    std::error_code ec;
    if (fs::exists(*out) && fs::equivalent(*out, *model, ec))
      throw Error("--out must differ from --model (" + *out + ")");
    WeightOptions opts;
    opts.layers = ParseWeightDType(*dtype, "--dtype");
    if (!embed_dtype->empty()) opts.embed = ParseWeightDType(*embed_dtype, "--embed-dtype");
    auto engine = Engine::Load(*model, opts);
    const WeightStore& ws = engine->weights();
    const WeightArena& arena = engine->arena();

    std::vector<TensorToWrite> writes;
    size_t in_bytes = 0, out_bytes = 0;
    int converted = 0;
    for (const std::string& name : ws.Names()) {
      const TensorView& t = *ws.Find(name);
      in_bytes += t.nbytes;
      const WeightArena::Entry* e = arena.Find(name);
      if (e && e->owned) {
        const size_t n = static_cast<size_t>(e->mat.rows) * e->mat.row_bytes();
        writes.push_back({name, e->mat.dtype, t.shape, e->mat.data, n});
        out_bytes += n;
        ++converted;
      } else {
        writes.push_back({name, t.dtype, t.shape, t.data, t.nbytes});
        out_bytes += t.nbytes;
      }
    }
    // Later loads must keep the embedding multiplier of the original dtype.
    std::map<std::string, std::string> meta = ws.metadata();
    const Mat& table = engine->embedding().table();
    for (const auto& e : arena.entries())
      if (e.mat.data == table.data) meta[kEmbedScaleDTypeKey] = DTypeName(EmbedScaleDType(ws, e.file_dtype));
    meta.emplace("format", "pt");

    fs::create_directories(*out);
    for (const auto& entry : fs::directory_iterator(*model)) {
      const std::string fname = entry.path().filename().string();
      if (!entry.is_regular_file() || entry.path().extension() == ".safetensors" ||
          fname == "model.safetensors.index.json")
        continue;
      fs::copy_file(entry.path(), fs::path(*out) / fname, fs::copy_options::overwrite_existing);
    }
    WriteSafeTensors((fs::path(*out) / "model.safetensors").string(), writes, meta);
    std::printf("wrote %s: %d matrices converted (layers %s, embedding %s), %d kept in file dtype "
                "(rows not whole blocks of 32); %.1f MB -> %.1f MB\n",
                out->c_str(), converted, DTypeName(*opts.layers), DTypeName(*opts.embed_dtype()),
                arena.kept_for_shape(), in_bytes / 1e6, out_bytes / 1e6);
  });
}

}  // namespace gemma
