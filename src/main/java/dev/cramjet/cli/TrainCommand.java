package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.dist.Launch;
import dev.cramjet.dist.Launcher;
import dev.cramjet.report.ProgressLine;
import dev.cramjet.train.Budget;
import dev.cramjet.train.TrainConfig;
import dev.cramjet.train.Trainer;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** `cramjet train`: trains a GPT on a prepared data directory within a budget, into a run directory. */
public final class TrainCommand implements Command {
    @Override
    public String summary() { return "train a model on prepared data within a budget (time, steps or tokens)"; }

    @Override
    public String usage() {
        return """
                usage: cramjet train --data DIR [--out RUN] [--config FILE] [--force] [--nproc N] [--KEY VALUE ...]
                       cramjet train --resume RUN [--budget ...] [--max-steps ...] [--nproc N]

                Trains on DIR (made by cramjet prepare) until the budget is spent. The learning rate follows the
                fraction of the budget used, so a --budget 10m run ends annealed when the 10 minutes are up.
                RUN (default runs/run-DATE-TIME) receives config.json, tokenizer.json, metrics.jsonl, checkpoints/,
                samples/, plots/ and report.html. Ctrl-C (or SIGTERM) saves a checkpoint and stops; --resume RUN
                continues from the newest checkpoint exactly where it stopped.

                  --out RUN        the run directory; it must not exist unless --force (which replaces it)
                  --config FILE    a JSON object of the keys below; command-line keys override it
                  --resume RUN     continue RUN; only the budget and reporting keys may change
                  --nproc N        data parallel on this machine: N ranks (CPU processes under Open MPI's
                                   mpirun, or one per GPU with --device cuda), stopped together if one fails.
                                   Under torchrun, Slurm's srun or mpirun, each process is a rank already: drop
                                   --nproc and pass the same --out to all. tokens-per-step is the whole step's;
                                   --zero 1 shards the optimizer state. A run resumes with any number of ranks.

                keys (as --KEY VALUE, or in the config file; the defaults shown are the small preset's, and the
                other presets set their own batch, lr, tokens-per-step and evaluation sizes):
                """ + TrainConfig.keysHelp();
    }

    @Override
    public int run(Args args) throws Exception {
        String resume = args.string("resume", null);
        String out = args.string("out", null);
        String configFile = args.string("config", null);
        boolean force = args.flag("force");
        int nproc = args.integer("nproc", 1);
        Map<String, String> overrides = overrides(args);
        args.finish();
        if (!args.positionals().isEmpty()) throw new CramjetException("unexpected argument '" + args.positionals().getFirst() + "' (see --help)");
        if (nproc < 1) throw new CramjetException("--nproc must be at least 1, got " + nproc);
        Launch launch = Launch.fromEnvironment();
        if (nproc > 1 && launch.distributed()) {
            throw new CramjetException("--nproc starts the ranks itself, but " + launch.launcher() + " already started this process as rank "
                    + launch.rank() + " of " + launch.size() + ": drop --nproc");
        }
        if (launch.distributed() && out == null && resume == null) {
            throw new CramjetException("a data-parallel run needs --out RUN (or --resume RUN): every rank must name the same run directory");
        }

        TrainConfig cfg;
        Path run;
        if (resume != null) {
            if (out != null || configFile != null || force) throw new CramjetException("--resume takes the run's own config; drop --out, --config and --force");
            run = Path.of(resume);
            cfg = TrainingRun.resumedConfig(run, overrides);
        } else {
            cfg = configFile == null ? TrainConfig.resolve(Map.of(), "", overrides) : TrainConfig.load(Path.of(configFile), overrides);
            run = Path.of(out != null ? out : "runs/run-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        }
        if (nproc > 1) return launch(args, nproc, cfg.device(), resume == null ? run : null);
        if (cfg.device().equals("cpu")) launch.shareCores();
        if (resume == null && launch.rank() == 0) TrainingRun.createRunDir(run, force);
        TrainingRun.Result r = TrainingRun.run(cfg, run, resume != null, ProgressLine.stdout(), launch);
        if (launch.rank() == 0) print(r);
        return r.outcome().reason().equals("interrupted") ? 130 : 0;
    }

    /**
     * Starts {@code nproc} ranks of this same command (without --nproc, and with the run directory named, so all
     * agree on it): under mpirun on the CPU, as child processes with torchrun's variables on GPUs.
     */
    private static int launch(Args args, int nproc, String device, Path run) throws Exception {
        List<String> argv = new ArrayList<>(List.of("train"));
        for (String key : args.keys()) {
            if (key.equals("nproc") || key.equals("out")) continue;
            argv.add("--" + key);
            if (args.given(key) != null) argv.add(args.given(key));
        }
        if (run != null) argv.addAll(List.of("--out", run.toString()));
        List<String> command = Launcher.javaCommand(Main.class.getName(), argv);
        return device.equals("cuda") ? Launcher.asChildren(nproc, command, Map.of()) : Launcher.underMpirun(nproc, command);
    }

    /** Every option that is a config key, in command-line spelling. */
    static Map<String, String> overrides(Args args) {
        Map<String, String> o = new LinkedHashMap<>();
        for (String k : args.keys()) if (TrainConfig.isKey(k)) o.put(k, args.string(k, null));
        return o;
    }

    static void print(TrainingRun.Result r) { print(r.outcome(), r.runDir(), "cramjet train --resume "); }

    /** The end of a run: how it ended, its last validation figures, where it is, and how to continue it. */
    static void print(Trainer.Outcome o, Path runDir, String resume) {
        System.out.printf(Locale.ROOT, "%nrun ended (%s) at step %d after %s: %,d tokens, final training loss %.4f%n",
                o.reason(), o.step(), Budget.formatDuration(o.elapsed()), o.tokens(), o.loss());
        if (o.eval() != null) {
            System.out.println("validation: " + o.eval().describe());
        }
        if (o.skipped() > 0 || o.rollbacks() > 0) {
            System.out.printf("non-finite steps skipped: %d, rollbacks: %d%n", o.skipped(), o.rollbacks());
        }
        System.out.println("run directory: " + runDir + " (report.html, plots/, checkpoints/, samples/)");
        if (o.reason().equals("interrupted")) System.out.println("continue with: " + resume + runDir);
    }
}
