package dev.cramjet.dist;

import dev.cramjet.dist.Heartbeat.Record;
import dev.cramjet.dist.Heartbeat.State;
import dev.cramjet.dist.Heartbeat.Wait;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * What a rank left waiting says about the others. The watchdog's halt itself is exercised end to end by
 * DataParallelTest (a stopped rank); here the records and the diagnosis.
 */
class HeartbeatTest {
    @TempDir Path dir;

    private static final long NOW = 1_000_000, HOST = 42, TIMEOUT = 60_000;

    private static Record waiting(int rank, long seq, long since) {
        return new Record(rank, 100 + rank, HOST, State.WAITING, Wait.ALL_REDUCE, seq, 12, NOW, since);
    }

    @Test
    void recordsRoundTripThroughTheFile() {
        Heartbeat hb = Heartbeat.start(dir, 1, 2, 3600, () -> null);
        hb.step(7);
        hb.enter(Wait.REDUCE_SCATTER);
        hb.enter(Wait.ALL_REDUCE);  // nested: the outer collective counts
        Record r = Heartbeat.read(dir, 1);
        assertEquals(State.WAITING, r.state());
        assertEquals(Wait.REDUCE_SCATTER, r.waitsIn());
        assertEquals(1, r.seq());
        assertEquals(7, r.step());
        assertEquals(ProcessHandle.current().pid(), r.pid());
        hb.exit();
        assertEquals(State.WAITING, Heartbeat.read(dir, 1).state(), "still inside the outer collective");
        hb.exit();
        assertEquals(State.WORKING, Heartbeat.read(dir, 1).state());
        hb.close();
        assertEquals(State.FINISHED, Heartbeat.read(dir, 1).state());
        assertNull(Heartbeat.read(dir, 0), "rank 0 never wrote one");
    }

    @Test
    void namesTheHungTheGoneTheStoppedTheFinishedTheSilentAndTheOutOfStep() {
        Record me = waiting(0, 57, NOW - 61_000);
        Record[] all = {
            null,
            new Record(1, 101, HOST, State.WORKING, Wait.BARRIER, 56, 11, NOW - 70_000, 0),   // hung: silent for 70 s
            new Record(2, 102, HOST, State.WAITING, Wait.ALL_REDUCE, 57, 12, NOW, NOW - 1000),   // fine: waits with us
            new Record(3, 103, HOST, State.WORKING, Wait.BARRIER, 56, 12, NOW - 1000, 0),        // gone: pid 103 is dead
            new Record(4, 104, HOST, State.FINISHED, Wait.BARRIER, 80, 20, NOW, 0),
            new Record(5, 105, HOST, State.WAITING, Wait.BROADCAST, 56, 11, NOW, NOW - 2000),  // alive, one behind
            null,
            new Record(7, 107, HOST, State.WAITING, Wait.ALL_REDUCE, 56, 12, NOW - 20_000, NOW - 25_000), // stopped
            new Record(8, 108, HOST, State.WAITING, Wait.BARRIER, 58, 13, NOW, NOW - 500),     // ahead
        };
        String line = Heartbeat.diagnose(me, all, NOW, TIMEOUT, HOST, pid -> pid != 103);
        assertEquals("rank 0: an all-reduce (collective #57, step 12) has waited 61 s for the other ranks (dist-timeout 60 s): "
                + "rank 1 is hung: no sign of life for 70 s (at step 11); "
                + "rank 3 (pid 103) is gone (last seen at step 12); "
                + "rank 4 has finished (at step 20); "
                + "rank 5 is alive but still in a broadcast (collective #56), which this rank has left: the transport between them is stuck; "
                + "rank 7 has stopped responding in an all-reduce (collective #56, step 12): no sign of life for 20 s"
                + " (the process is stopped, frozen or swapped out); "
                + "rank 8 waits in a barrier (collective #58, step 13), ahead of this rank's #57: the ranks are out of step; "
                + "rank 6 never wrote a heartbeat (not started, or stuck before training); stopping this rank", line);
    }

    @Test
    void whenEveryoneWaitsTogetherTheTransportIsToBlame() {
        Record[] all = {waiting(0, 9, NOW - 1000), waiting(1, 9, NOW - 90_000)};
        String line = Heartbeat.diagnose(all[1], all, NOW, TIMEOUT, HOST, pid -> true);
        assertTrue(line.startsWith("rank 1: an all-reduce (collective #9, step 12) has waited 90 s"), line);
        assertTrue(line.contains("every rank waits in it: the collective itself is stuck"), line);
    }

    @Test
    void aProcessOnAnotherHostIsNotJudgedByLocalPids() {
        Record other = new Record(1, 999_999, HOST + 1, State.WORKING, Wait.BARRIER, 3, 1, NOW - 1000, 0);
        String line = Heartbeat.diagnose(waiting(0, 4, NOW - 70_000), new Record[] {null, other}, NOW, TIMEOUT, HOST, pid -> false);
        assertTrue(line.contains("the collective itself is stuck"), "a live remote rank is neither gone nor hung: " + line);
    }
}
