package dev.cramjet.cli;

import dev.cramjet.cli.ExportCommandsTest.Run;
import dev.cramjet.data.ShardWriter;
import dev.cramjet.io.Json;
import dev.cramjet.io.TrainedModels;
import dev.cramjet.nn.GPTConfig;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.cramjet.cli.ExportCommandsTest.concat;
import static dev.cramjet.cli.ExportCommandsTest.ok;
import static dev.cramjet.cli.ExportCommandsTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** `cramjet prune` end to end: models per sparsity, the table, structured pruning that shrinks, recovery. */
class PruneCommandTest {
    @TempDir
    Path dir;

    private Path heldOut() throws IOException { return TrainedModels.heldOut(dir, 9100, 8); }

    @Test
    void structuredPruningShrinksTheSavedModel() throws IOException {
        Path src = TrainedModels.llama(), out = dir.resolve("pruned"), text = heldOut();
        Run r = ok("prune", "--model", src.toString(), "--structured", "neurons", "--sparsity", "0.25,0.5",
                "--text", text.toString(), "--out", out.toString());
        GPTConfig cfg = ModelDir.readConfig(src);
        for (String s : List.of("0.25", "0.50")) {
            Path m = out.resolve("neurons-" + s);
            GPTConfig pruned = ModelDir.readConfig(m);
            int keep = (int) Math.round(cfg.mlpHidden() * (1 - Double.parseDouble(s)) / 32) * 32;
            assertEquals(keep, pruned.mlpHidden(), "config.json says the new width");
            assertTrue(Files.size(m.resolve("model.safetensors")) < Files.size(src.resolve("model.safetensors")));
            assertEquals(Tokenizer.load(src.resolve("tokenizer.json")).hash(), Tokenizer.load(m.resolve("tokenizer.json")).hash());
            ok("eval", "--model", m.toString(), "--text", text.toString());
        }
        Map<String, Object> table = Json.object(Json.parse(Files.readString(out.resolve("prune.json")), "prune.json"), "prune.json");
        List<Object> rows = Json.array(table.get("rows"), "rows");
        assertEquals(3, rows.size(), "the original and one row per sparsity");
        Map<String, Object> base = Json.object(rows.get(0), "row"), half = Json.object(rows.get(2), "row");
        assertEquals(0.0, base.get("sparsity"));
        assertEquals(0.5, half.get("sparsity"));
        assertTrue(Json.integer(half.get("parameters"), "p") < Json.integer(base.get("parameters"), "p"));
        assertTrue(Json.number(half.get("val_loss"), "l") > 0);
        assertTrue(Json.number(half.get("decode_tokens_per_s"), "t") > 0);
        String md = Files.readString(out.resolve("prune.md"));
        assertTrue(r.out().contains(md.strip().lines().toList().getLast()), "the saved table is the printed one");
        assertTrue(md.contains("| neurons | 0.50 | " + cfg.nHead() + " | " + cfg.mlpHidden() / 2 + " |"), md);
    }

    /**
     * Head pruning: each block keeps half its heads, each its size; the Llama layout carries head_dim to every format
     * (config.json, GGUF key_length), and eval and generate (cached and not) run on the result. The GPT-2 layout
     * saves as Cramjet's general layout and is refused, in one line, by the formats whose configs cannot say it.
     */
    @Test
    void headPruningShrinksTheAttention() throws IOException {
        Path text = heldOut();
        GPTConfig cfg = ModelDir.readConfig(TrainedModels.llama());
        Path out = dir.resolve("llama-heads");
        Run r = ok("prune", "--model", TrainedModels.llama().toString(), "--structured", "heads", "--sparsity", "0.5",
                "--text", text.toString(), "--out", out.toString());
        Path m = out.resolve("heads-0.50");
        GPTConfig pruned = ModelDir.readConfig(m);
        assertEquals(cfg.nHead() / 2, pruned.nHead());
        assertEquals(cfg.headSize(), pruned.headSize());
        Map<String, Object> hf = Json.object(Json.parse(Files.readString(m.resolve("config.json")), "c"), "c");
        assertEquals("llama", hf.get("model_type"));
        assertEquals((long) cfg.headSize(), hf.get("head_dim"));
        assertEquals((long) cfg.nHead() / 2, hf.get("num_attention_heads"));
        assertTrue(Files.size(m.resolve("model.safetensors")) < Files.size(TrainedModels.llama().resolve("model.safetensors")));
        String md = Files.readString(out.resolve("prune.md"));
        assertTrue(md.contains("| heads | 0.50 | " + cfg.nHead() / 2 + " | " + cfg.mlpHidden() + " |"), md);
        assertTrue(r.out().contains(md.strip().lines().toList().getLast()), "the saved table is the printed one");
        ok("eval", "--model", m.toString(), "--text", text.toString());
        String[] gen = {"--prompt", "the model", "--max-tokens", "24", "--temperature", "0"};
        String cached = ok(concat(new String[] {"generate", "--model", m.toString()}, gen)).out();
        assertEquals(cached, ok(concat(new String[] {"generate", "--model", m.toString(), "--no-cache"}, gen)).out(),
                "KV-cache decoding and full recomputation continue alike");
        Path gguf = dir.resolve("heads.gguf");
        ok("export", "--model", m.toString(), "--format", "gguf", "--type", "q8_0", "--out", gguf.toString());
        ok("eval", "--model", gguf.toString(), "--text", text.toString());

        Path g = dir.resolve("gpt2-heads");
        ok("prune", "--model", TrainedModels.gpt2().toString(), "--structured", "heads", "--sparsity", "0.75",
                "--text", text.toString(), "--out", g.toString());
        Path gm = g.resolve("heads-0.75");
        assertEquals(1, ModelDir.readConfig(gm).nHead());
        assertEquals("cramjet", Json.object(Json.parse(Files.readString(gm.resolve("config.json")), "c"), "c").get("model_type"));
        ok("eval", "--model", gm.toString(), "--text", text.toString());
        Run hfOut = run("export", "--model", gm.toString(), "--format", "hf", "--out", dir.resolve("hf").toString());
        assertTrue(hfOut.status() == 2 && hfOut.err().strip().lines().count() == 1
                && hfOut.err().contains("Hugging Face's GPT-2 config has no head size"), hfOut.err());
        Run ggufOut = run("export", "--model", gm.toString(), "--format", "gguf", "--out", dir.resolve("g.gguf").toString());
        assertTrue(ggufOut.status() == 2 && ggufOut.err().contains("llama.cpp's gpt2 takes the head size as n_embd / n_head"), ggufOut.err());
        assertFalse(Files.exists(dir.resolve("hf")) || Files.exists(dir.resolve("g.gguf")), "a refusal writes nothing");
    }

    @Test
    void unstructuredPruningWithRecovery() throws IOException {
        Tokenizer tok = TrainedModels.tokenizer();
        Path data = dir.resolve("data");
        ShardWriter sw = new ShardWriter(data, "train", tok.vocabSize(), tok.eot(), tok.hash(), 1 << 20);
        for (int d = 1000; d < 1060; d++) sw.add(tok.encodeOrdinary(TrainedModels.text(d, 400)));
        sw.finish();
        Path out = dir.resolve("pruned");
        ok("prune", "--model", TrainedModels.gpt2().toString(), "--sparsity", "0.6", "--recover-steps", "5", "--data", data.toString(),
                "--batch", "2", "--seq", "64", "--text", heldOut().toString(), "--out", out.toString());
        Map<String, Object> row = Json.object(Json.array(Json.object(Json.parse(Files.readString(out.resolve("prune.json")), "p"), "p")
                .get("rows"), "rows").get(1), "row");
        assertEquals("unstructured", row.get("method"));
        assertEquals(5L, Json.object(Json.parse(Files.readString(out.resolve("prune.json")), "p"), "p").get("recover_steps"));
        long params = Json.integer(row.get("parameters"), "p"), nonzero = Json.integer(row.get("nonzero_parameters"), "n");
        assertTrue(nonzero < 0.75 * params, "60% of the block matrices are zero: " + nonzero + " of " + params);
        assertEquals(ModelDir.readConfig(TrainedModels.gpt2()), ModelDir.readConfig(out.resolve("unstructured-0.60")), "same shapes");

        Run twice = run("prune", "--model", TrainedModels.gpt2().toString(), "--text", heldOut().toString(), "--out", out.toString());
        assertTrue(twice.status() == 2 && twice.err().contains("already exists (--force replaces it)"), twice.err());
        Run bad = run("prune", "--model", TrainedModels.gpt2().toString(), "--sparsity", "1.5", "--text", heldOut().toString(), "--out", dir.resolve("x").toString());
        assertTrue(bad.status() == 2 && bad.err().contains("--sparsity values must be in (0, 1), got 1.5"), bad.err());
        Run noData = run("prune", "--model", TrainedModels.gpt2().toString(), "--recover-steps", "3", "--text", heldOut().toString(), "--out", dir.resolve("x").toString());
        assertTrue(noData.status() == 2 && noData.err().contains("--recover-steps and --data go together"), noData.err());
        assertFalse(Files.exists(dir.resolve("x")));
    }
}
