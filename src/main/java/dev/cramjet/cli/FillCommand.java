package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.io.Json;
import dev.cramjet.nn.Encoder;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.Model;
import dev.cramjet.tokenizer.Tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** `cramjet fill`: an encoder's predictions for the masked tokens of a text (Hugging Face's fill-mask). */
public final class FillCommand implements Command {
    @Override
    public String summary() { return "predict the <|mask|> tokens of a text with an encoder"; }

    @Override
    public String usage() {
        return """
                usage: cramjet fill (--model DIR | --run DIR) --text TEXT [--top K] [--json]

                Encodes TEXT (special tokens written in it count, so <|mask|> is a mask) after an end-of-text, the
                [CLS] every pretraining sequence starts with, runs the encoder over it, and prints the K most likely
                tokens at each mask with their probabilities, then the text with the best ones filled in.

                  --model DIR   an encoder model directory (with tokenizer.json)
                  --run DIR     a training run: its best checkpoint, else its latest
                  --top K       predictions per mask (default 5)
                  --json        one JSON object: ids, and per mask its position, top predictions and all logits
                """;
    }

    @Override
    public int run(Args args) throws Exception {
        String modelArg = args.string("model", null), runArg = args.string("run", null);
        String text = args.required("text");
        int top = args.integer("top", 5);
        boolean json = args.flag("json");
        args.finish();
        if ((modelArg == null) == (runArg == null)) throw new CramjetException("give exactly one of --model DIR or --run DIR");
        if (top < 1) throw new CramjetException("--top: must be at least 1, got " + top);
        GenerateCommand.Source src = modelArg != null ? GenerateCommand.modelDir(Path.of(modelArg)) : GenerateCommand.fromRun(Path.of(runArg)).getFirst();
        if (!EncoderDir.isEncoder(src.model())) throw new CramjetException(src.model() + ": not an encoder (fill needs a masked-language model)");
        Tokenizer tok = Tokenizer.load(src.tokenizer());
        Integer mask = tok.specials().get(Tokenizer.MASK);
        if (mask == null) throw new CramjetException(src.tokenizer() + ": has no " + Tokenizer.MASK + " token");
        int[] body = tok.encode(text);
        int[] ids = new int[body.length + 1];
        ids[0] = tok.eot();
        System.arraycopy(body, 0, ids, 1, body.length);
        List<Integer> positions = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) if (ids[i] == mask) positions.add(i);
        if (positions.isEmpty()) throw new CramjetException("--text has no " + Tokenizer.MASK + " to fill");
        try (Backend be = Backends.open("cpu")) {
            int block = EncoderDir.readConfig(src.model()).blockSize();
            if (ids.length > block) throw new CramjetException("--text is " + ids.length + " tokens with [CLS]; the encoder reads at most " + block);
            Encoder e = EncoderDir.load(be, src.model(), 1, ids.length, Model.Options.INFERENCE);
            e.forward(ids, null);
            List<Object> masks = new ArrayList<>();
            int[] filled = ids.clone();
            for (int p : positions) {
                float[] z = e.logitsAt(p);
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (float v : z) max = Math.max(max, v);
                for (float v : z) sum += Math.exp(v - max);
                int[] best = topK(z, top);
                filled[p] = best[0];
                List<Object> preds = new ArrayList<>();
                StringBuilder line = new StringBuilder("position " + p + ":");
                for (int id : best) {
                    double prob = Math.exp(z[id] - max) / sum;
                    String piece = new String(tok.token(id), StandardCharsets.UTF_8);
                    preds.add(Map.of("id", (long) id, "token", piece, "p", prob));
                    line.append(String.format(Locale.ROOT, "  %s %.1f%%", Json.write(piece), 100 * prob));
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("position", (long) p);
                m.put("top", preds);
                List<Object> logits = new ArrayList<>(z.length);
                for (float v : z) logits.add((double) v);
                m.put("logits", logits);
                masks.add(m);
                if (!json) System.out.println(line);
            }
            if (json) {
                Map<String, Object> out = new LinkedHashMap<>();
                List<Object> idList = new ArrayList<>();
                for (int id : ids) idList.add((long) id);
                out.put("ids", idList);
                out.put("masks", masks);
                System.out.println(Json.write(out));
            } else {
                System.out.println(tok.decode(java.util.Arrays.copyOfRange(filled, 1, filled.length)));
            }
        }
        return 0;
    }

    /** The ids of the k largest values, largest first. */
    static int[] topK(float[] z, int k) {
        int n = Math.min(k, z.length);
        int[] best = new int[n];
        java.util.Arrays.fill(best, -1);
        for (int id = 0; id < z.length; id++) {
            for (int s = 0; s < n; s++) {
                if (best[s] < 0 || z[id] > z[best[s]]) {
                    System.arraycopy(best, s, best, s + 1, n - s - 1);
                    best[s] = id;
                    break;
                }
            }
        }
        return best;
    }
}
