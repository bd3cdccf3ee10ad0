package dev.cramjet.report;

import dev.cramjet.eval.Validation;
import dev.cramjet.train.Trainer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A training run as people watch it: the live progress line, the trainer's log lines, and the run's report
 * rewritten after every evaluation, whose samples it keeps for the run's summary. Pretraining and fine-tuning
 * runs share it.
 */
public class RunProgress implements Trainer.Listener {
    private final ProgressLine progress;
    private final Path runDir;
    private final List<String> lastSamples = new ArrayList<>();

    public RunProgress(ProgressLine progress, Path runDir) {
        this.progress = progress;
        this.runDir = runDir;
    }

    @Override
    public void step(Trainer.Status s) {
        progress.update(new ProgressLine.Status(s.step(), s.loss(), s.lr(), s.tokensPerSecond(), s.mfu(), s.elapsed(), s.remaining(), s.progress()));
    }

    @Override public void message(String line) { progress.log(line); }

    @Override
    public void evaluated(long step, Validation result, List<String> samples) {
        lastSamples.clear();
        lastSamples.addAll(samples);
        refresh();
    }

    /** The samples of the last evaluation (none before one). */
    public List<String> lastSamples() { return List.copyOf(lastSamples); }

    /** Rewrites the plots and report.html; a failure there is reported and never stops training. */
    public void refresh() {
        try {
            Report.write(runDir);
        } catch (IOException | RuntimeException e) {
            progress.log("report not refreshed: " + e.getMessage());
        }
    }
}
