package dev.cramjet.cli;

import dev.cramjet.CramjetException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/** `cramjet COMMAND [options]`: dispatches to one {@link Command}. */
public final class Main {
    /** The commands, in pipeline order (the order `cramjet help` lists them). */
    static Map<String, Supplier<Command>> commands() {
        Map<String, Supplier<Command>> m = new LinkedHashMap<>();
        m.put("demo", DemoCommand::new);
        m.put("prepare", PrepareCommand::new);
        m.put("tokenizer", TokenizerCommand::new);
        m.put("plan", PlanCommand::new);
        m.put("train", TrainCommand::new);
        m.put("split", SplitCommand::new);
        m.put("finetune", FinetuneCommand::new);
        m.put("classify", ClassifyCommand::new);
        m.put("merge", MergeCommand::new);
        m.put("eval", EvalCommand::new);
        m.put("generate", GenerateCommand::new);
        m.put("chat", ChatCommand::new);
        m.put("logits", LogitsCommand::new);
        m.put("quantize", QuantizeCommand::new);
        m.put("prune", PruneCommand::new);
        m.put("export", ExportCommand::new);
        m.put("import", ImportCommand::new);
        m.put("report", ReportCommand::new);
        m.put("serve", ServeCommand::new);
        m.put("dashboard", DashboardCommand::new);
        m.put("bench", BenchCommand::new);
        m.put("doctor", DoctorCommand::new);
        m.put("selftest", SelftestCommand::new);
        return m;
    }

    public static void main(String[] argv) {
        System.exit(run(argv));
    }

    static int run(String[] argv) {
        Map<String, Supplier<Command>> commands = commands();
        if (argv.length == 0 || argv[0].equals("help") || argv[0].equals("--help") || argv[0].equals("-h")) {
            System.out.println(help(commands));
            return argv.length == 0 ? 2 : 0;
        }
        Supplier<Command> s = commands.get(argv[0]);
        if (s == null) {
            System.err.println("cramjet: unknown command '" + argv[0] + "'\n\n" + help(commands));
            return 2;
        }
        Command c = s.get();
        String[] rest = java.util.Arrays.copyOfRange(argv, 1, argv.length);
        if (java.util.Arrays.asList(rest).contains("--help") || java.util.Arrays.asList(rest).contains("-h")) {
            System.out.println(c.usage());
            return 0;
        }
        try {
            return c.run(new Args(rest));
        } catch (CramjetException e) {
            System.err.println("cramjet " + argv[0] + ": " + e.getMessage());
            return 2;
        } catch (UncheckedIOException e) {
            System.err.println("cramjet " + argv[0] + ": " + describe(e.getCause()));
            return 2;
        } catch (IOException e) {
            System.err.println("cramjet " + argv[0] + ": " + describe(e));
            return 2;
        } catch (OutOfMemoryError e) {
            // A model, batch or context bigger than the heap: the user's to change, so one line says how.
            System.err.printf(java.util.Locale.ROOT, "cramjet %s: out of memory (the Java heap is %.1f GiB): choose a smaller model, "
                    + "batch or context, or give Java more memory (CRAMJET_JAVA_OPTS=-Xmx…)%n", argv[0], Runtime.getRuntime().maxMemory() / 1073741824.0);
            return 2;
        } catch (Exception e) {
            // A bug, not bad input: keep the trace, it is what a bug report needs.
            System.err.println("cramjet " + argv[0] + ": internal error (please report): " + e);
            e.printStackTrace();
            return 1;
        }
    }

    /** An I/O failure as "PATH: what went wrong" where the JDK knows the path (its own message may lack the reason). */
    static String describe(IOException e) {
        if (!(e instanceof FileSystemException f)) return "I/O error: " + e.getMessage();
        String reason = f.getReason() != null ? f.getReason() : switch (f) {
            case NoSuchFileException x -> "no such file or directory";
            case FileAlreadyExistsException x -> "already exists and is in the way (a file where a directory is needed?)";
            case AccessDeniedException x -> "permission denied";
            case DirectoryNotEmptyException x -> "directory not empty";
            case NotDirectoryException x -> "not a directory";
            default -> f.getClass().getSimpleName();
        };
        return f.getFile() + (f.getOtherFile() != null ? " (to " + f.getOtherFile() + ")" : "") + ": " + reason;
    }

    private static String help(Map<String, Supplier<Command>> commands) {
        StringBuilder sb = new StringBuilder("usage: cramjet COMMAND [options]   (cramjet COMMAND --help for details)\n\ncommands:\n");
        commands.forEach((name, s) -> sb.append(String.format("  %-10s %s%n", name, s.get().summary())));
        return sb.toString();
    }
}
