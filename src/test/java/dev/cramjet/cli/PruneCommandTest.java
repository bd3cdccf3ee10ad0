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

import static dev.cramjet.cli.ExportCommandsTest.ok;
import static dev.cramjet.cli.ExportCommandsTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** `cramjet prune` end to end: models per sparsity, the table, structured pruning that shrinks, recovery. */
class PruneCommandTest {
    @TempDir
    Path dir;

    private Path heldOut() throws IOException {
        Path f = dir.resolve("held-out.txt");
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < 8; s++) sb.append(TrainedModels.text(9100 + s, 300));
        Files.writeString(f, sb);
        return f;
    }

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
