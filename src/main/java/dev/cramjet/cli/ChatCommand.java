package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.engine.Backend;
import dev.cramjet.engine.Backends;
import dev.cramjet.infer.Generator;
import dev.cramjet.infer.Sampler;
import dev.cramjet.nn.Model;
import dev.cramjet.tokenizer.Tokenizer;
import dev.cramjet.tune.ChatTemplate;
import dev.cramjet.tune.ChatTemplate.Message;
import dev.cramjet.tune.ChatTemplate.Role;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * `cramjet chat`: a conversation in the terminal. Each turn lays the whole history out with the model's chat
 * template and streams the reply; when the history no longer fits the context, the oldest turns are dropped
 * (the system message stays).
 */
public final class ChatCommand implements Command {
    @Override
    public String summary() { return "chat with a fine-tuned model in the terminal (history, streaming, /reset, /system, /exit)"; }

    @Override
    public String usage() {
        return """
                usage: cramjet chat (--model DIR | --run RUN | --adapter DIR) [--adapter DIR] [options]

                  --model DIR            a model directory (a full fine-tune's model/, or a base)
                  --run RUN              a run's best checkpoint
                  --adapter DIR          a PEFT adapter over the model (alone: over the base its config names)
                  --system TEXT          the system message (default: none)
                  --max-tokens N         the longest reply (default 200, at most half the model's context)
                  --temperature T        0 = greedy (default 0.7)
                  --top-k K, --top-p P   sampling shortlist (defaults 40, 0.95)
                  --repetition-penalty R (default 1.1)
                  --seed S               sampling seed (default 1337)
                  --device cpu|cuda      (default cpu)

                Type a message and press Enter; the reply streams as it is written. Commands:
                  /reset         forget the conversation (the system message stays)
                  /system TEXT   set the system message and start over
                  /exit          leave (so does end of input, Ctrl-D)
                The chat template is the adapter's or model's chat_template.json (else the default, see docs/TUNE.md).""";
    }

    @Override
    public int run(Args args) throws Exception {
        Models.Chosen c = Models.choose(args.string("model", null), args.string("run", null), args.string("adapter", null));
        String system = args.string("system", null);
        int maxTokens = args.integer("max-tokens", 0);
        Sampler.Settings settings = new Sampler.Settings(args.number("temperature", 0.7), args.integer("top-k", 40),
                args.number("top-p", 0.95), args.number("repetition-penalty", 1.1), args.longValue("seed", 1337));
        String device = args.string("device", "cpu");
        args.finish();
        if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
        if (args.has("max-tokens") && maxTokens < 1) throw new CramjetException("--max-tokens must be at least 1, got " + maxTokens);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Backend be = Backends.open(device)) {
            GenerateCommand.Loaded m = GenerateCommand.load(be, c, "chat", cfg -> 1, Model.Options.INFERENCE);
            Tokenizer tok = m.tokenizer();
            Path base = m.source().model();
            ChatTemplate template = ChatTemplate.find(c.adapter(), base);
            out.println("chatting with " + base + " (" + c.what(m.source()) + "); /reset, /system TEXT, /exit");
            Generator generator = new Generator(m.model(), tok, true);
            if (maxTokens == 0) maxTokens = Math.min(200, generator.capacity() / 2);   // a small model's context is short
            Chat chat = new Chat(generator, tok, template, system, maxTokens, settings);
            chat.loop(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), out);
        }
        return 0;
    }

    /** The conversation: its history, and one turn per line read. */
    static final class Chat {
        private final Generator generator;
        private final Tokenizer tok;
        private final ChatTemplate template;
        private final int maxTokens, room;
        private final Sampler.Settings settings;
        private final List<Message> history = new ArrayList<>();
        private String system;
        private int turn;

        Chat(Generator generator, Tokenizer tok, ChatTemplate template, String system, int maxTokens, Sampler.Settings settings) {
            this.generator = generator;
            this.tok = tok;
            this.template = template;
            this.system = system;
            this.maxTokens = maxTokens;
            this.settings = settings;
            this.room = generator.capacity();
            if (maxTokens >= room) throw new CramjetException("--max-tokens " + maxTokens + " leaves no room for the conversation in a context of " + room);
        }

        void loop(BufferedReader in, PrintStream out) throws IOException {
            while (true) {
                out.print("> ");
                out.flush();
                String line = in.readLine();
                if (line == null) {
                    out.println();
                    return;
                }
                line = line.strip();
                if (line.isEmpty()) continue;
                if (line.equals("/exit")) return;
                if (line.equals("/reset")) {
                    history.clear();
                    out.println("(conversation cleared)");
                    continue;
                }
                if (line.equals("/system") || line.startsWith("/system ")) {
                    system = line.substring("/system".length()).strip();
                    if (system.isEmpty()) system = null;
                    history.clear();
                    out.println(system == null ? "(no system message; conversation cleared)" : "(system message set; conversation cleared)");
                    continue;
                }
                if (line.startsWith("/")) {
                    out.println("(unknown command " + line.split("\\s+")[0] + "; /reset, /system TEXT, /exit)");
                    continue;
                }
                reply(line, out);
            }
        }

        /** One turn: the user's message in, the reply streamed out and kept. */
        void reply(String message, PrintStream out) {
            history.add(new Message(Role.USER, message));
            int[] ids = fit(out);
            if (ids == null) {
                history.removeLast();
                out.println("(that message alone does not fit the context of " + room + " tokens; try a shorter one)");
                return;
            }
            Sampler sampler = new Sampler(new Sampler.Settings(settings.temperature(), settings.topK(), settings.topP(),
                    settings.repetitionPenalty(), settings.seed() + turn++), tok.vocabSize());
            Generator.Result r = generator.generate(ids, maxTokens, sampler, piece -> {
                out.print(piece);
                out.flush();
            });
            out.println();
            history.add(new Message(Role.ASSISTANT, r.text()));
        }

        /** The conversation's tokens with room for a reply, dropping the oldest turns as needed; null if it cannot fit. */
        private int[] fit(PrintStream out) {
            int dropped = 0;
            while (true) {
                List<Message> m = new ArrayList<>();
                if (system != null) m.add(new Message(Role.SYSTEM, system));
                m.addAll(history);
                int[] ids = template.encode(tok, m, true).ids();
                if (ids.length + maxTokens <= room) {
                    if (dropped > 0) out.println("(the oldest " + dropped + " messages no longer fit the context and were dropped)");
                    return ids;
                }
                if (history.size() <= 1) return null;
                history.removeFirst();
                dropped++;
                if (!history.isEmpty() && history.getFirst().role() == Role.ASSISTANT) {
                    history.removeFirst();                       // never start with a reply to a dropped question
                    dropped++;
                }
            }
        }

        List<Message> history() { return List.copyOf(history); }
    }
}
