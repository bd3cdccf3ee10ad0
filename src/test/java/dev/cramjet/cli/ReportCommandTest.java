package dev.cramjet.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class ReportCommandTest {
    @Test
    void writesTheChartsAndThePage(@TempDir Path run) throws Exception {
        Files.writeString(run.resolve("metrics.jsonl"), """
                {"type":"train","step":1,"tokens":1024,"loss":5.5,"lr":0.0001,"tokens_per_s":800.0,"elapsed_s":1.3}
                {"type":"train","step":2,"tokens":2048,"loss":5.1,"lr":0.0002,"tokens_per_s":820.0,"elapsed_s":2.5}
                """);
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int status;
        try {
            status = Main.run(new String[] {"report", run.toString()});
        } finally {
            System.setOut(old);
        }
        assertEquals(0, status);
        assertTrue(Files.size(run.resolve("plots/loss.png")) > 1000);
        assertTrue(Files.size(run.resolve("plots/lr.png")) > 1000);
        assertTrue(Files.readString(run.resolve("report.html")).contains("No config.json"));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("wrote " + run.resolve("report.html")));
        assertEquals(2, Main.run(new String[] {"report"}));
    }
}
