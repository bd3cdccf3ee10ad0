package dev.cramjet.report;

import dev.cramjet.CramjetException;
import dev.cramjet.io.Json;
import dev.cramjet.io.TextFile;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A run's {@code metrics.jsonl}: one JSON object per line, appended by the trainer as it goes. Every record has a
 * {@code "type"} and a {@code "step"} (the optimizer step it belongs to); the other fields are optional, and a
 * missing or null one reads as NaN. Numbers are plain JSON numbers; times are seconds.
 * <pre>
 * {"type":"train", "step":100, "tokens":3276800, "loss":4.213, "lr":6.0e-4, "grad_norm":0.91,
 *  "tokens_per_s":41250.0, "mfu":0.38, "elapsed_s":79.4}
 *      one optimizer step: tokens = tokens consumed so far (all ranks), loss = mean training loss of the step,
 *      lr = learning rate used, grad_norm = global gradient norm before clipping, mfu = model FLOPs utilisation
 *      as a fraction of the device's peak (0.38 = 38%), elapsed_s = wall-clock seconds since the run started
 * {"type":"eval", "step":500, "val_loss":3.912, "val_ppl":50.0, "val_bpb":1.21}
 *      a validation pass: mean loss in nats per token, its perplexity e^loss, and bits per UTF-8 byte; a
 *      classifier's has val_accuracy, val_macro_f1 and (two classes) val_auc instead of ppl and bpb, and any
 *      other numeric val_* field is kept in {@code others}
 * {"type":"sample", "step":500, "prompt":"Once upon a time", "text":"Once upon a time there was ..."}
 *      generated text (prompt optional; text is the whole sample including the prompt)
 * {"type":"event", "step":812, "message":"step 812: non-finite loss; step skipped"}
 *      something people should know about: a skipped step, a rollback, early stopping, the end of the run
 * </pre>
 * Unknown types and unknown fields are skipped, so newer trainers can add records without breaking older readers.
 * A run killed mid-write can leave a truncated last line; it is ignored. A bad line anywhere else is an error
 * naming the file and line. The trainer writes this file ({@code dev.cramjet.train.MetricsLog}).
 */
public record Metrics(List<Train> train, List<Eval> evals, List<Sample> samples, List<Event> events) {

    public record Train(long step, long tokens, double loss, double lr, double gradNorm, double tokensPerSecond,
                        double mfu, double elapsedSeconds) {}

    /** {@code others}: the numeric val_* fields besides loss, ppl and bpb (val_accuracy, val_macro_f1, …), in file order. */
    public record Eval(long step, double valLoss, double valPpl, double valBpb, Map<String, Double> others) {}

    public record Sample(long step, String prompt, String text) {}

    public record Event(long step, String message) {}

    /** Reads {@code file}; a missing file is an error naming it. */
    public static Metrics read(Path file) {
        if (!Files.exists(file)) {
            throw new CramjetException(file + ": no such file (a run directory has metrics.jsonl once training has logged a step)");
        }
        byte[] b = TextFile.bytes(file, "metrics file");
        List<int[]> lines = new ArrayList<>(); // [start, end) of each line, the newline excluded
        for (int start = 0, i = 0; i <= b.length; i++) {
            if (i == b.length || b[i] == '\n') {
                if (i > start || i < b.length) lines.add(new int[] {start, i});
                start = i + 1;
            }
        }
        List<Train> train = new ArrayList<>();
        List<Eval> evals = new ArrayList<>();
        List<Sample> samples = new ArrayList<>();
        List<Event> events = new ArrayList<>();
        int last = lines.size();
        while (last > 0 && new String(b, lines.get(last - 1)[0], lines.get(last - 1)[1] - lines.get(last - 1)[0],
                StandardCharsets.UTF_8).isBlank()) last--;
        for (int i = 0; i < last; i++) {
            String where = file + " line " + (i + 1);
            Map<String, Object> m;
            try {
                String text = TextFile.decode(b, lines.get(i)[0], lines.get(i)[1] - lines.get(i)[0], where, 0);
                if (text.isBlank()) continue;
                m = Json.object(Json.parse(text, where), where);
            } catch (CramjetException e) {
                if (i == last - 1) break; // a write cut short by a crash
                throw e;
            }
            Object type = m.get("type");
            if (type == null) throw new CramjetException(where + ": record has no \"type\" (expected train, eval, sample or event)");
            long step = Json.integer(m.get("step"), where + " field \"step\"");
            switch (Json.string(type, where + " field \"type\"")) {
                case "train" -> train.add(new Train(step, (long) orNaN(m, "tokens", where), orNaN(m, "loss", where),
                        orNaN(m, "lr", where), orNaN(m, "grad_norm", where), orNaN(m, "tokens_per_s", where),
                        orNaN(m, "mfu", where), orNaN(m, "elapsed_s", where)));
                case "eval" -> evals.add(new Eval(step, orNaN(m, "val_loss", where), orNaN(m, "val_ppl", where),
                        orNaN(m, "val_bpb", where), others(m, where)));
                case "sample" -> samples.add(new Sample(step,
                        m.get("prompt") == null ? null : Json.string(m.get("prompt"), where + " field \"prompt\""),
                        Json.string(m.get("text"), where + " field \"text\"")));
                case "event" -> events.add(new Event(step, Json.string(m.get("message"), where + " field \"message\"")));
                default -> { } // a record type this version does not know
            }
        }
        return new Metrics(List.copyOf(train), List.copyOf(evals), List.copyOf(samples), List.copyOf(events));
    }

    private static Map<String, Double> others(Map<String, Object> m, String where) {
        Map<String, Double> out = new java.util.LinkedHashMap<>();
        for (String k : m.keySet()) {
            if (k.startsWith("val_") && !List.of("val_loss", "val_ppl", "val_bpb").contains(k) && m.get(k) instanceof Number) {
                out.put(k, orNaN(m, k, where));
            }
        }
        return out;
    }

    private static double orNaN(Map<String, Object> m, String key, String where) {
        Object v = m.get(key);
        return v == null ? Double.NaN : Json.number(v, where + " field \"" + key + "\"");
    }
}
