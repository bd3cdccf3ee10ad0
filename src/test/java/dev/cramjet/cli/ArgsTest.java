package dev.cramjet.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ArgsTest {
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
