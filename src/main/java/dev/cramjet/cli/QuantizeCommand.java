package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.infer.DecodeBench;
import dev.cramjet.io.Gguf.TensorType;
import dev.cramjet.io.GgufModel;
import dev.cramjet.io.Json;
import dev.cramjet.io.ModelFiles;
import dev.cramjet.nn.GPT;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.nn.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * `cramjet quantize`: int8 weights for CPU inference. The result is a GGUF file with Q8_0 weight matrices: the one
 * format that stores ggml's int8 blocks as they are, carries the tokenizer, and runs unchanged in llama.cpp as well
 * as in Cramjet's eval and generate (which keep the weights int8 and multiply by them directly). A
 * safetensors file has no Q8_0 type; our own names for quants and scales there would be a format no other tool
 * reads.
 */
public final class QuantizeCommand implements Command {
    @Override
    public String summary() { return "int8 (Q8_0) weights for CPU inference, with the size and loss they cost"; }

    @Override
    public String usage() {
        return """
                usage: cramjet quantize --model PATH [--type q8_0] [--out FILE.gguf] [--tokens FILE|DIR | --text FILE]
                                        [--split val] [--max-tokens N] [--batch B] [--seq T] [--force] [--json]

                Writes the model at PATH (a model directory or a GGUF file) with int8 weight matrices: Q8_0, blocks of
                32 int8 values with one fp16 scale (ggml's format; norms, biases and the position table stay fp32),
                as a GGUF file (default: beside PATH, NAME-q8_0.gguf) that eval, generate and llama.cpp load.
                Prints the size before and after and the batch-1 decode speed of both; with held-out tokens
                (--tokens/--text as for `cramjet eval`, default --max-tokens 65536) also the validation loss of
                both and its change.""";
    }

    @Override
    public int run(Args args) throws IOException {
        Path model = Path.of(args.required("model"));
        String type = args.string("type", "q8_0");
        String outArg = args.string("out", null);
        String tokensArg = args.string("tokens", null), textArg = args.string("text", null);
        String split = args.string("split", "val");
        long maxTokens = args.longValue("max-tokens", 65536);
        int batch = args.integer("batch", 4);
        boolean force = args.flag("force"), json = args.flag("json");
        GPTConfig cfg = ModelFiles.config(model);
        int seq = args.integer("seq", cfg.blockSize());
        args.finish();
        if (!type.equalsIgnoreCase("q8_0")) throw new CramjetException("--type must be q8_0 (int8 blocks), got '" + type + "'");
        if (tokensArg != null && textArg != null) throw new CramjetException("give at most one of --tokens and --text");
        if (batch < 1 || seq < 1 || seq > cfg.blockSize()) throw new CramjetException("--batch must be ≥ 1 and --seq in [1, " + cfg.blockSize() + "]");
        Path out = outArg != null ? Path.of(outArg)
                : model.toAbsolutePath().normalize().resolveSibling(ExportCommand.name(model) + "-q8_0.gguf");
        if (Files.exists(out) && !force) throw new CramjetException(out + ": already exists (--force replaces it)");
        int[] stream = tokensArg == null && textArg == null ? null
                : EvalCommand.heldOut(model, tokensArg, textArg, split, maxTokens, cfg.vocabSize());

        Map<String, Object> report = new LinkedHashMap<>();
        try (Backend be = Backends.open("cpu")) {
            GPT fp32 = ModelFiles.loadFp32(be, model, batch, seq);
            GgufModel.write(fp32, ExportCommand.tokenizer(model), TensorType.Q8_0, ExportCommand.name(model),
                    ModelFiles.chatTemplate(model), out);
            GPT int8 = GgufModel.load(be, out, batch, seq, false);
            report.put("model", model.toString());
            report.put("out", out.toString());
            report.put("fp32", figures(fp32, stream, weightBytes(fp32, cfg), sourceBytes(model)));
            report.put("int8", figures(int8, stream, weightBytes(int8, cfg), Files.size(out)));
        }
        print(report, json);
        return 0;
    }

    /** Size, loss (when there is held-out text) and decode speed of one variant. */
    private static Map<String, Object> figures(GPT model, int[] stream, long weightBytes, long fileBytes) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("file_bytes", fileBytes);
        m.put("weight_bytes", weightBytes);
        if (stream != null) m.put("val_loss", EvalCommand.evaluate(model, stream).loss());
        int prompt = Math.min(16, model.config().blockSize() / 4), decode = Math.min(64, model.config().blockSize() - prompt - 1);
        m.put("decode_tokens_per_s", DecodeBench.run(model, prompt, decode, 3).decodeTokensPerSecond());
        return m;
    }

    /** Bytes of the weights a decoding step reads (all but the position table), real vocabulary rows only. */
    static long weightBytes(GPT model, GPTConfig cfg) {
        long n = 0;
        for (Parameters.Param p : model.parameterList()) {
            if (p.name().equals("wpe.weight")) continue;
            long rows = p.shape()[0], bytes = p.value().bytes();
            n += p.name().equals("wte.weight") || p.name().equals("lm_head.weight") ? bytes / rows * cfg.vocabSize() : bytes;
        }
        return n;
    }

    /** The size of the model on disk: a GGUF file, or a directory's weights file. */
    static long sourceBytes(Path model) throws IOException {
        return Files.size(ModelFiles.isGguf(model) ? model : model.resolve(ModelDir.WEIGHTS));
    }

    @SuppressWarnings("unchecked")
    private static void print(Map<String, Object> r, boolean json) {
        if (json) {
            System.out.println(Json.write(r));
            return;
        }
        Map<String, Object> a = (Map<String, Object>) r.get("fp32"), b = (Map<String, Object>) r.get("int8");
        System.out.println("wrote " + r.get("out") + " (Q8_0 weight matrices; norms, biases and positions fp32)");
        System.out.printf(Locale.ROOT, "%-22s %16s %16s%n", "", "fp32", "int8 (Q8_0)");
        long fa = (Long) a.get("file_bytes"), fb = (Long) b.get("file_bytes");
        System.out.printf(Locale.ROOT, "%-22s %13.2f MB %13.2f MB   %.2f× smaller%n", "file", fa / 1e6, fb / 1e6, fa / (double) fb);
        long wa = (Long) a.get("weight_bytes"), wb = (Long) b.get("weight_bytes");
        System.out.printf(Locale.ROOT, "%-22s %13.2f MB %13.2f MB   %.2f× fewer%n", "weights read per token", wa / 1e6, wb / 1e6, wa / (double) wb);
        if (a.containsKey("val_loss")) {
            double la = (Double) a.get("val_loss"), lb = (Double) b.get("val_loss");
            System.out.printf(Locale.ROOT, "%-22s %16.4f %16.4f   %+.3f%%%n", "validation loss", la, lb, 100 * (lb - la) / la);
        }
        double da = (Double) a.get("decode_tokens_per_s"), db = (Double) b.get("decode_tokens_per_s");
        System.out.printf(Locale.ROOT, "%-22s %12.1f t/s %12.1f t/s   %.2f×%n", "decode (batch 1)", da, db, db / da);
    }
}
