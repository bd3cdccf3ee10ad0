package dev.cramjet.cli;

import dev.cramjet.io.Json;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** `cramjet bench --json` on the micro preset: every figure present and sane (the numbers are not asserted). */
class BenchCommandTest {
    @Test
    void reportsTrainingForwardAndGenerationInBothWeightTypes() {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = Main.run(new String[] {"bench", "--preset", "micro", "--steps", "1", "--batch", "2", "--decode", "4", "--json"});
        } finally {
            System.setOut(old);
        }
        assertEquals(0, rc);
        List<Map<String, Object>> lines = new ArrayList<>();
        for (String line : buf.toString(StandardCharsets.UTF_8).split("\n")) {
            lines.add(Json.object(Json.parse(line, "bench output"), "bench output"));
        }
        List<Object> kinds = lines.stream().map(m -> m.get("bench")).toList();
        assertEquals(List.of("setup", "train_step", "forward", "gemm", "memory", "generate", "generate", "decode_speedup"), kinds);
        Map<String, Object> fp32 = lines.get(5), int8 = lines.get(6);
        assertEquals("F32", fp32.get("weights"));
        assertEquals("Q8_0", int8.get("weights"));
        assertTrue(Json.number(fp32.get("decode_tokens_per_s"), "fp32") > 0);
        // int8 streams about 34/128 of fp32's bytes for the quantized matrices (all of micro's but wpe and norms).
        double ratio = Json.number(int8.get("weight_bytes"), "int8") / Json.number(fp32.get("weight_bytes"), "fp32");
        assertTrue(ratio > 0.26 && ratio < 0.35, "int8/fp32 weight bytes " + ratio);
    }

    @Test
    void anEncoderPresetTimesMaskedLanguageModelSteps() {
        Cli r = Cli.run("bench", "--preset", "crammed-tiny", "--steps", "1", "--batch", "2", "--seq", "16", "--json");
        assertEquals(0, r.rc(), r.toString());
        List<Map<String, Object>> lines = new ArrayList<>();
        for (String line : r.out().split("\n")) lines.add(Json.object(Json.parse(line, "bench output"), "bench output"));
        assertEquals(List.of("setup", "mlm_train_step", "mlm_forward", "mlm_cpu_time", "memory"), lines.stream().map(m -> m.get("bench")).toList());
        assertEquals("mlm", lines.getFirst().get("objective"));
        assertEquals(0.25, Json.number(lines.getFirst().get("mask_rate"), "mask_rate"), "Cramming's rate for the crammed presets");
        assertTrue(Json.number(lines.get(1).get("tokens_per_s"), "tokens_per_s") > 0);
        assertTrue(Json.number(lines.get(3).get("train_cpu_seconds_per_step"), "cpu") >= 0);
    }
}
