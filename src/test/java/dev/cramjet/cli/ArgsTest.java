package dev.cramjet.cli;

import dev.cramjet.CramjetException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ArgsTest {
    private static String error(Runnable r) { return assertThrows(CramjetException.class, r::run).getMessage(); }

    @Test
    void anOptionThatTakesAValueMustGetOne() {
        Args last = new Args(new String[] {"--data", "d", "--out"});
        assertEquals("d", last.string("data", null));
        assertEquals("--out needs a value (see --help)", error(() -> last.string("out", "runs/x")));
        Args beforeAnother = new Args(new String[] {"--out", "--force"});
        assertTrue(beforeAnother.flag("force"));
        assertEquals("--out needs a value (see --help)", error(() -> beforeAnother.required("out")));
        assertEquals("--vocab needs a value (see --help)", error(() -> new Args(new String[] {"--vocab"}).integer("vocab", 1)));
    }

    @Test
    void flagsAreBareOrTrueOrFalseAndGiveSwallowedPositionalsBack() {
        Args a = new Args(new String[] {"--force", "--json=false", "--skip-bad", "more.txt"});
        assertTrue(a.flag("force"));
        assertFalse(a.flag("json"));
        assertTrue(a.flag("skip-bad"));
        assertEquals(List.of("more.txt"), a.positionals());
        assertFalse(a.flag("absent"));
        a.finish();
    }

    @Test
    void numbersTooLargeAreCalledThatNotMalformed() {
        Args a = new Args(new String[] {"--vocab", "99999999999", "--seed", "99999999999999999999", "--batch", "1e3"});
        assertEquals("--vocab: 99999999999 is too large (at most 2147483647)", error(() -> a.integer("vocab", 0)));
        assertEquals("--seed: 99999999999999999999 is out of range (a 64-bit integer)", error(() -> a.longValue("seed", 0)));
        assertEquals("--batch expects an integer, got '1e3'", error(() -> a.integer("batch", 0)));
        assertEquals(1_000_000, new Args(new String[] {"--n", "1_000_000"}).integer("n", 0));
    }

    @Test
    void unreadOptionsAreNamed() {
        Args a = new Args(new String[] {"--budjet", "1h"});
        a.string("budget", null);
        assertEquals("unknown option --budjet (see --help)", error(a::finish));
    }

    @Test
    void theCommandsSayWhichOptionLacksItsValue() {
        Cli train = Cli.run("train", "--data", "nowhere", "--out");
        assertEquals(new Cli(2, "", "cramjet train: --out needs a value (see --help)\n"), train);
        Cli prepare = Cli.run("prepare", "--input", "x.txt", "--out");
        assertEquals(new Cli(2, "", "cramjet prepare: --out needs a value (see --help)\n"), prepare);
    }

    @Test
    void aFlagGivesBackTheWordItTookWhereItStood() {
        Args a = new Args(new String[] {"--json", "first", "second"});
        assertTrue(a.flag("json"));
        assertEquals(List.of("first", "second"), a.positionals());

        Args b = new Args(new String[] {"zero", "--x", "one", "two", "--y", "three", "--n", "4"});
        assertTrue(b.flag("y"));
        assertTrue(b.flag("x"));
        assertEquals(4, b.integer("n", 0));
        assertEquals(List.of("zero", "one", "two", "three"), b.positionals());
        b.finish();
    }
}
