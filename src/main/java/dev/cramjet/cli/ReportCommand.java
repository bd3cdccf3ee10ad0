package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import dev.cramjet.report.Report;

import java.nio.file.Path;

/** `cramjet report RUN`: regenerates a run's charts and HTML report from its metrics. */
public final class ReportCommand implements Command {
    @Override
    public String summary() { return "write a run's loss and learning-rate charts and its HTML report"; }

    @Override
    public String usage() {
        return """
                usage: cramjet report RUN

                Reads RUN/metrics.jsonl and RUN/config.json and (re)writes:
                  RUN/plots/loss.png   training loss (raw and smoothed) and validation loss by step, log scale
                  RUN/plots/lr.png     learning rate by step
                  RUN/report.html      a self-contained page: summary, charts, throughput, samples, configuration
                Works on a finished, running or crashed run.""";
    }

    @Override
    public int run(Args args) throws Exception {
        args.finish();
        if (args.positionals().size() != 1) throw new CramjetException("expected one run directory, got " + args.positionals().size() + " arguments (see --help)");
        Report.Written w = Report.write(Path.of(args.positionals().getFirst()));
        if (w.lossPng() != null) {
            System.out.println("wrote " + w.lossPng());
            System.out.println("wrote " + w.lrPng());
        } else {
            System.err.println("cramjet report: charts skipped (no usable fonts); the report has the numbers");
        }
        System.out.println("wrote " + w.html());
        return 0;
    }
}
