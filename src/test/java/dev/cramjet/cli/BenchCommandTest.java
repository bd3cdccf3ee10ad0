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

/** `cramjet bench --json` and `bench --serve --json` on the micro preset: every figure present and sane (speeds are not asserted). */
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

    @Test
    void serveReportsEveryLevelPerWeightType() {
        Cli r = Cli.run("bench", "--serve", "--preset", "micro", "--streams", "1,3", "--prompt-tokens", "5", "--decode", "4", "--json");
        assertEquals(0, r.rc(), r.toString());
        List<Map<String, Object>> lines = new ArrayList<>();
        for (String line : r.out().split("\n")) lines.add(Json.object(Json.parse(line, "bench output"), "bench output"));
        assertEquals(List.of("serve_setup", "serve", "serve", "serve_setup", "serve", "serve"),
                lines.stream().map(m -> m.get("bench")).toList());
        assertEquals("int8", lines.get(3).get("weights"));
        for (int i : new int[] {1, 2, 4, 5}) {
            Map<String, Object> l = lines.get(i);
            double streams = Json.number(l.get("streams"), "streams"), rounds = Json.number(l.get("rounds"), "rounds");
            assertEquals(i % 3 == 1 ? 1 : 3, streams);
            assertEquals(i % 3 == 1 ? 4 : 1, rounds, "one stream is measured over four rounds");
            // every stream generates exactly --decode tokens: end of text is never drawn
            assertEquals(streams * rounds * 4, Json.number(l.get("tokens"), "tokens"));
            double seconds = Json.number(l.get("seconds"), "seconds");
            assertEquals(Json.number(l.get("tokens"), "tokens") / seconds, Json.number(l.get("aggregate_tokens_per_s"), "agg"), 1e-9);
            assertTrue(Json.number(l.get("decode_tokens_per_s_per_stream"), "decode") > 0);
            double p50 = Json.number(l.get("ttft_p50_s"), "p50"), p99 = Json.number(l.get("ttft_p99_s"), "p99");
            assertTrue(p50 > 0 && p50 <= p99 && p99 <= seconds, "first token p50 " + p50 + ", p99 " + p99);
            double cpu = Json.number(l.get("engine_cpu_s"), "cpu");
            assertTrue(cpu > 0, "the engine's thread did the work: " + cpu + " CPU-s");
            assertEquals(Json.number(l.get("tokens"), "tokens") / cpu, Json.number(l.get("tokens_per_engine_cpu_s"), "per cpu"), 1e-9);
        }
        assertEquals(1.0, Json.number(lines.get(1).get("over_single_stream"), "ratio"), 1e-12);
        assertEquals(1.0, Json.number(lines.get(1).get("cpu_over_single_stream"), "ratio"), 1e-12);
        assertEquals(Json.number(lines.get(2).get("aggregate_tokens_per_s"), "agg") / Json.number(lines.get(1).get("aggregate_tokens_per_s"), "agg"),
                Json.number(lines.get(2).get("over_single_stream"), "ratio"), 1e-9);
    }

    @Test
    void attentionReportsEachCacheLength() {
        Cli r = Cli.run("bench", "--attention", "5,70", "--streams", "2", "--preset", "tiny", "--json");
        assertEquals(0, r.rc(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(2, lines.length, r.out());
        for (int i = 0; i < 2; i++) {
            Map<String, Object> m = Json.object(Json.parse(lines[i], "line"), "line");
            assertEquals(List.of("attention", 2L, i == 0 ? 5L : 70L), List.of(m.get("bench"), m.get("streams"), m.get("keys")));
            assertTrue(Json.number(m.get("us_per_sequence_head"), "us") > 0, r.out());
        }
        Cli bad = Cli.run("bench", "--attention", "0");
        assertEquals(2, bad.rc());
    }

    @Test
    void matmulReportsEachRowCount() {
        Cli r = Cli.run("bench", "--matmul", "48,64", "--rows", "1,5", "--json");
        assertEquals(0, r.rc(), r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(2, lines.length, r.out());
        for (int i = 0; i < 2; i++) {
            Map<String, Object> m = Json.object(Json.parse(lines[i], "line"), "line");
            assertEquals(List.of("matmul", (long) (i == 0 ? 1 : 5), 48L, 64L), List.of(m.get("bench"), m.get("rows"), m.get("n"), m.get("k")));
            double ms = Json.number(m.get("ms"), "ms");
            assertTrue(ms > 0, r.out());
            // The three figures describe the same call: GMAC/s and GB/s follow from ms and the shape.
            assertEquals((i == 0 ? 1 : 5) * 48 * 64 / ms / 1e6, Json.number(m.get("gmac_per_s"), "gmac"), 1e-6 * Json.number(m.get("gmac_per_s"), "gmac"));
            assertEquals(4e-6 * 48 * 64 / ms, Json.number(m.get("weight_gb_per_s"), "gb"), 1e-9 * Json.number(m.get("weight_gb_per_s"), "gb") + 1e-12);
        }
        Cli bad = Cli.run("bench", "--matmul", "48");
        assertEquals(2, bad.rc());
        assertEquals("cramjet bench: --matmul expects N,K (W's rows and columns), got 1 numbers\n", bad.err());
    }

    /** --repeats R: the levels R times, then per level the median and range of its ratios to the single stream. */
    @Test
    void serveRepeatsTheLevelsAndSummarisesTheRatios() {
        Cli r = Cli.run("bench", "--serve", "--preset", "micro", "--streams", "1,3", "--prompt-tokens", "5", "--decode", "4",
                "--weights", "fp32", "--repeats", "3", "--json");
        assertEquals(0, r.rc(), r.toString());
        List<Map<String, Object>> lines = new ArrayList<>();
        for (String line : r.out().split("\n")) lines.add(Json.object(Json.parse(line, "bench output"), "bench output"));
        assertEquals(List.of("serve_setup", "serve", "serve", "serve", "serve", "serve", "serve", "serve_summary", "serve_summary"),
                lines.stream().map(m -> m.get("bench")).toList());
        // With two compute threads or more the ratio is of tokens/s, with one of tokens per CPU-second.
        String key = dev.cramjet.engine.cpu.Parallel.threads() > 1 ? "over_single_stream" : "cpu_over_single_stream";
        for (int level = 0; level < 2; level++) {
            double[] ratios = new double[3];
            for (int rep = 0; rep < 3; rep++) ratios[rep] = Json.number(lines.get(1 + 2 * rep + level).get(key), key);
            java.util.Arrays.sort(ratios);
            Map<String, Object> sum = lines.get(7 + level);
            assertEquals(level == 0 ? 1 : 3, Json.number(sum.get("streams"), "streams"));
            assertEquals(ratios[1], Json.number(sum.get("over_single_stream_median"), "median"), 1e-12);
            assertEquals(ratios[0], Json.number(sum.get("over_single_stream_min"), "min"), 1e-12);
            assertEquals(ratios[2], Json.number(sum.get("over_single_stream_max"), "max"), 1e-12);
        }
        assertEquals(1.0, Json.number(lines.get(7).get("over_single_stream_median"), "one over one"), 1e-12);
        Cli bad = Cli.run("bench", "--serve", "--preset", "micro", "--repeats", "0");
        assertEquals(2, bad.rc());
        assertEquals("cramjet bench: --repeats must be at least 1, got 0\n", bad.err());
    }

    @Test
    void serveRefusesLevelsThatAreNotNumbers() {
        Cli r = Cli.run("bench", "--serve", "--preset", "micro", "--prompt-tokens", "4", "--decode", "4", "--streams", "1,x");
        assertEquals(2, r.rc());
        assertEquals("cramjet bench: --streams expects numbers separated by commas, got '1,x'\n", r.err());
    }
}
