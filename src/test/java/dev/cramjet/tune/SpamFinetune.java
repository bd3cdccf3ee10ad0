package dev.cramjet.tune;

import dev.cramjet.Hash;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.nn.EncoderDir;
import dev.cramjet.nn.Head;
import dev.cramjet.nn.Model;
import dev.cramjet.nn.ModelDir;
import dev.cramjet.optim.AdamWOptimizer;
import dev.cramjet.text.BadInput;
import dev.cramjet.text.Corpora;
import dev.cramjet.text.CorpusReader;
import dev.cramjet.text.Format;
import dev.cramjet.tokenizer.Tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A bench for the recorded run of docs/ENCODER.md, not a test: fine-tunes a pretrained model — an encoder reading
 * its first token ([CLS]), or a GPT reading its last — on the packaged spam-assassin mail, ham against spam, the
 * whole model, then prints accuracy and spam precision/recall/F1 on a held-out fifth (chosen by a hash of the text,
 * so every model sees the same split). Each email is end-of-text + its first tokens, padded to the sequence. It
 * stands in for `cramjet finetune --task classify` (issue 11) until that lands.
 * Run: mvn -q -o test-compile && java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes
 * dev.cramjet.tune.SpamFinetune MODEL_DIR TOKENIZER_JSON [epochs 2] [lr 1e-4] [seq 128] [batch 16]
 */
public final class SpamFinetune {
    private record Email(int[] ids, int label, boolean test) {}

    public static void main(String[] args) throws Exception {
        Path modelDir = Path.of(args[0]);
        Tokenizer tok = Tokenizer.load(Path.of(args[1]));
        int epochs = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        float lr = args.length > 3 ? Float.parseFloat(args[3]) : 1e-4f;
        int seq = args.length > 4 ? Integer.parseInt(args[4]) : 128, batch = args.length > 5 ? Integer.parseInt(args[5]) : 16;

        Corpora.Corpus corpus = Corpora.get("spam-assassin");
        List<Email> emails = new ArrayList<>();
        new CorpusReader(Format.EMAIL, null, new BadInput(true)).read(Corpora.standard().files(corpus), doc -> {
            int[] body = tok.encodeOrdinary(doc.text());
            int n = Math.min(seq, body.length + 1);
            int[] ids = new int[n];
            ids[0] = tok.eot();
            System.arraycopy(body, 0, ids, 1, n - 1);
            long h = 0;
            for (int i = 0; i < doc.text().length(); i++) h = Hash.mix(h + doc.text().charAt(i));
            emails.add(new Email(ids, doc.source().matches(".*/spam-\\d+/.*") ? 1 : 0, Long.remainderUnsigned(h, 5) == 0));
            return true;
        });
        List<Email> train = emails.stream().filter(e -> !e.test).toList(), test = emails.stream().filter(Email::test).toList();
        System.out.printf(Locale.ROOT, "spam-assassin: %d emails (%d spam), %d train, %d test; %s%n", emails.size(),
                emails.stream().filter(e -> e.label == 1).count(), train.size(), test.size(), modelDir);

        try (Backend be = new CpuBackend()) {
            boolean encoder = EncoderDir.isEncoder(modelDir);
            Model.Options options = Model.Options.TRAIN.classify(2, encoder ? Head.Pooling.FIRST : Head.Pooling.LAST);
            Model m = encoder ? EncoderDir.load(be, modelDir, batch, seq, options) : ModelDir.load(be, modelDir, batch, seq, options);
            AdamWOptimizer opt = new AdamWOptimizer(be, m.parameters(), new AdamWOptimizer.Settings(0.9f, 0.999f, 1e-8f, 0.01f, 1f, false));
            int pad = tok.specials().getOrDefault("<|pad|>", tok.eot());
            int[] x = new int[batch * seq], y = new int[batch], len = new int[batch];
            int steps = epochs * (train.size() / batch), step = 0;
            SplittableRandom rng = new SplittableRandom(7);
            long t0 = System.nanoTime();
            for (int epoch = 0; epoch < epochs; epoch++) {
                int[] order = rng.ints(0, Integer.MAX_VALUE).limit(train.size()).toArray();
                Integer[] idx = new Integer[train.size()];
                for (int i = 0; i < idx.length; i++) idx[i] = i;
                java.util.Arrays.sort(idx, (a, b) -> Integer.compare(order[a], order[b]));
                double sum = 0;
                int count = 0;
                for (int s = 0; s + batch <= idx.length; s += batch, step++) {
                    for (int b = 0; b < batch; b++) fill(train.get(idx[s + b]), b, seq, pad, x, y, len);
                    m.train(step);
                    m.zeroGrad();
                    sum += m.forward(x, len, y);
                    count++;
                    m.backward();
                    opt.step(lr * (1 - (float) step / steps));       // linear decay to zero
                }
                System.out.printf(Locale.ROOT, "epoch %d: training loss %.4f, %.0f s%n", epoch + 1, sum / count, (System.nanoTime() - t0) / 1e9);
            }
            long tp = 0, fp = 0, fn = 0, right = 0;
            m.eval();
            for (int s = 0; s < test.size(); s += batch) {
                int rows = Math.min(batch, test.size() - s);
                for (int b = 0; b < batch; b++) fill(test.get(Math.min(s + b, test.size() - 1)), b, seq, pad, x, y, len);
                m.forward(x, len, null);
                for (int b = 0; b < rows; b++) {
                    float[] z = m.logitsAt(b);
                    int predicted = z[1] > z[0] ? 1 : 0, label = test.get(s + b).label;
                    if (predicted == label) right++;
                    if (predicted == 1 && label == 1) tp++;
                    if (predicted == 1 && label == 0) fp++;
                    if (predicted == 0 && label == 1) fn++;
                }
            }
            double precision = tp / (double) (tp + fp), recall = tp / (double) (tp + fn);
            System.out.printf(Locale.ROOT, "test: accuracy %.2f%%, spam precision %.4f, recall %.4f, F1 %.4f (%d emails, %.0f s in all)%n",
                    100.0 * right / test.size(), precision, recall, 2 * precision * recall / (precision + recall), test.size(),
                    (System.nanoTime() - t0) / 1e9);
        }
    }

    private static void fill(Email e, int b, int seq, int pad, int[] x, int[] y, int[] len) {
        java.util.Arrays.fill(x, b * seq, (b + 1) * seq, pad);
        System.arraycopy(e.ids, 0, x, b * seq, e.ids.length);
        len[b] = e.ids.length;
        y[b] = e.label;
    }
}
