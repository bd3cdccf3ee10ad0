package dev.cramjet.serve;

import dev.cramjet.engine.cpu.CpuBackend;
import dev.cramjet.infer.Sampler;
import dev.cramjet.nn.GPT;
import dev.cramjet.tokenizer.Tokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The scheduler on its own: chunked prompts beside decoding sequences, cancellation, deadlines, draining. */
class EngineTest {
    static CpuBackend cpu;
    static Tokenizer tok;
    static GPT model;

    @BeforeAll
    static void setUp() {
        cpu = new CpuBackend();
        tok = TinyModel.tokenizer();
        model = TinyModel.model(cpu, tok, 128);
    }

    @AfterAll
    static void tearDown() { cpu.close(); }

    /** Everything a sink hears, in order, with the request's name. */
    private record Heard(String who, String what, long nanos) {}

    private static Engine.Sink sink(String who, List<Heard> log) {
        return new Engine.Sink() {
            @Override
            public void text(int index, String piece, List<Engine.TokenLogprob> logprobs) { log.add(new Heard(who, "text", System.nanoTime())); }

            @Override
            public void end(int index, String reason, int p, int c) { log.add(new Heard(who, "end:" + reason + ":" + c, System.nanoTime())); }

            @Override
            public void fail(ApiError error) { log.add(new Heard(who, "fail:" + error.code, System.nanoTime())); }
        };
    }

    private static Engine.Job job(int[] prompt, int maxTokens) {
        return new Engine.Job(prompt, maxTokens, new Sampler.Settings(1, 0, 1, 1, 5), List.of(), new int[0], -1, 0);
    }

    private static int[] ids(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = 50 + i % 200;
        return p;
    }

    private static boolean await(List<Heard> log, String who, String prefix) throws InterruptedException {
        // Polled every millisecond: a warm JVM generates the tiny model's 100 tokens in well under 50 ms, so a
        // coarser poll could submit the long prompt after the short sequence had finished.
        for (int i = 0; i < 20_000; i++) {                     // at most 20 s
            synchronized (log) {
                for (Heard h : log) if (h.who().equals(who) && h.what().startsWith(prefix)) return true;
            }
            Thread.sleep(1);
        }
        return false;
    }

    @Test
    void aLongPromptIsReadInChunksWhileOthersKeepGenerating() throws Exception {
        List<Heard> log = Collections.synchronizedList(new ArrayList<>());
        // Vocabulary without end of text, so the short sequence surely generates all its tokens.
        Engine.Vocabulary v = new Engine.Vocabulary(tok.vocabSize(), -1, tok::token);
        try (Engine e = new Engine(model, v, 2, 128, 4, 4)) {
            e.submit(List.of(job(ids(3), 100)), sink("short", log), Long.MAX_VALUE);
            assertTrue(await(log, "short", "text"));
            long submitted = System.nanoTime();
            e.submit(List.of(job(ids(110), 4)), sink("long", log), Long.MAX_VALUE);
            assertTrue(await(log, "long", "end:length:4"), () -> log.toString());
            long firstLong = Long.MAX_VALUE;
            int shortDuring = 0;
            synchronized (log) {
                for (Heard h : log) if (h.who().equals("long") && h.what().equals("text")) firstLong = Math.min(firstLong, h.nanos());
                for (Heard h : log) if (h.who().equals("short") && h.what().equals("text") && h.nanos() > submitted && h.nanos() < firstLong) shortDuring++;
            }
            // 110 prompt tokens at 4 a step take 28 steps; the short sequence takes a token in each.
            assertTrue(shortDuring >= 20, "the short sequence got " + shortDuring + " tokens while the long prompt was read");
        }
    }

    @Test
    void cancellingFreesTheSlotAndDeadlinesFail() throws Exception {
        List<Heard> log = Collections.synchronizedList(new ArrayList<>());
        Engine.Vocabulary v = new Engine.Vocabulary(tok.vocabSize(), -1, tok::token);
        try (Engine e = new Engine(model, v, 1, 128, 8, 2)) {
            // "a" is cancelled from its own sink at its third token, as a handler does when its client goes away.
            java.util.concurrent.atomic.AtomicReference<Engine.Ticket> a = new java.util.concurrent.atomic.AtomicReference<>();
            Engine.Sink heard = sink("a", log);
            int[] tokens = {0};
            a.set(e.submit(List.of(job(ids(4), 120)), new Engine.Sink() {
                @Override
                public void text(int index, String piece, List<Engine.TokenLogprob> logprobs) {
                    heard.text(index, piece, logprobs);
                    if (++tokens[0] == 3) {
                        while (a.get() == null) Thread.onSpinWait();
                        a.get().cancel();
                    }
                }

                @Override
                public void end(int index, String reason, int p, int c) { heard.end(index, reason, p, c); }

                @Override
                public void fail(ApiError error) { heard.fail(error); }
            }, Long.MAX_VALUE));
            e.submit(List.of(job(ids(4), 3)), sink("b", log), Long.MAX_VALUE);   // waits for the only slot
            assertTrue(await(log, "b", "end:length:3"), "the queued request got the slot");
            assertTrue(tokens[0] >= 3 && tokens[0] < 10, "a stopped within a step of its cancellation: " + tokens[0] + " tokens");
            synchronized (log) {
                assertTrue(log.stream().noneMatch(h -> h.who().equals("a") && h.what().startsWith("end")), "a cancelled request hears no end");
            }
            e.submit(List.of(job(ids(4), 5)), sink("late", log), System.nanoTime() - 1);
            assertTrue(await(log, "late", "fail:timeout"));
            // Too many at once: 1 slot + 2 waiting.
            ApiError busy = assertThrows(ApiError.class, () -> e.submit(List.of(job(ids(4), 3), job(ids(4), 3), job(ids(4), 3), job(ids(4), 3)),
                    sink("many", log), Long.MAX_VALUE));
            assertEquals(429, busy.status);
        }
    }

    @Test
    void aStepThatFailsFailsItsRequestsAndTheEngineServesOn() throws Exception {
        List<Heard> log = Collections.synchronizedList(new ArrayList<>());
        try (Engine e = new Engine(model, tok, 2, 128, 8, 2)) {
            // Only a bug gets an id past the vocabulary this far (requests are checked before): the step throws.
            e.submit(List.of(job(new int[] {tok.vocabSize() + 1000}, 3)), sink("bad", log), Long.MAX_VALUE);
            assertTrue(await(log, "bad", "fail:internal_error"));
            e.submit(List.of(job(ids(5), 3)), sink("good", log), Long.MAX_VALUE);
            assertTrue(await(log, "good", "end:"), () -> log.toString());
        }
    }

    @Test
    void drainingLetsRunningRequestsFinishAndRefusesTheRest() throws Exception {
        List<Heard> log = Collections.synchronizedList(new ArrayList<>());
        Engine e = new Engine(model, new Engine.Vocabulary(tok.vocabSize(), -1, tok::token), 1, 128, 8, 2);
        // The running request holds the engine at its first token until the test has started draining, so it is
        // surely still running then (and the queued one surely still queued).
        java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(1), release = new java.util.concurrent.CountDownLatch(1);
        Engine.Sink heard = sink("running", log);
        e.submit(List.of(job(ids(4), 8)), new Engine.Sink() {
            @Override
            public void text(int index, String piece, List<Engine.TokenLogprob> logprobs) {
                heard.text(index, piece, logprobs);
                if (started.getCount() == 0) return;
                started.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException x) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public void end(int index, String reason, int p, int c) { heard.end(index, reason, p, c); }

            @Override
            public void fail(ApiError error) { heard.fail(error); }
        }, Long.MAX_VALUE);
        e.submit(List.of(job(ids(4), 8)), sink("queued", log), Long.MAX_VALUE);
        assertTrue(started.await(30, TimeUnit.SECONDS));
        Thread drain = Thread.ofVirtual().start(() -> {
            try {
                e.drain(System.nanoTime() + TimeUnit.SECONDS.toNanos(60));
            } catch (InterruptedException x) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(await(log, "queued", "fail:shutting_down"), () -> log.toString());
        assertEquals(503, assertThrows(ApiError.class, () -> e.submit(List.of(job(ids(4), 3)), sink("after", log), Long.MAX_VALUE)).status);
        release.countDown();
        drain.join(60_000);
        assertTrue(await(log, "running", "end:length:8"), () -> "the running request finished: " + log);
    }
}
