package io.hotmem.bench;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The demo, with small sizes: it runs the whole sequence, verifies its data and exits 0. */
class DemoTest {
    private static String run(int expectedExit, String input, String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int exit = Demo.run(args, new PrintStream(bytes, true, StandardCharsets.UTF_8),
                new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)));
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(expectedExit, exit, out);
        return out;
    }

    @Test
    void scriptedSequenceDrainsAndUnplugsWithNothingLost() {
        String out = run(0, "", "--node-mib", "32", "--long-lived", "64", "--long-lived-kib", "64",
                "--phase-seconds", "0.3");
        for (String expected : new String[]{"> status", "> disable 1", "> drain 1 30", "drain node 1: complete",
                "> unplug 1", "Node 1 unplugged hotremovable", "> plug 1", "> enable 1", "during drain",
                "verified 64 long-lived buffers", "none lost"}) {
            assertTrue(out.contains(expected), "missing '" + expected + "' in:\n" + out);
        }
        if (Demo.rssBytes() >= 0) {
            assertTrue(out.contains("process RSS:"), out);
        }
    }

    @Test
    void interactiveModeReadsCommands() {
        String out = run(0, "disable 2\nstatus\nbogus\noffline 2 5\nquit\n", "--interactive", "--node-mib", "16",
                "--long-lived", "16", "--long-lived-kib", "16");
        assertTrue(out.contains("Node 2 disabled hotremovable"), out);
        assertTrue(out.contains("error: unknown command 'bogus'"), out);
        assertTrue(out.contains("offline node 2: complete"), out);
        assertTrue(out.contains("none lost"), out);
    }

    @Test
    void badOptionsExitWithUsage() {
        String out = run(2, "", "--frobnicate", "1");
        assertTrue(out.contains("usage:"), out);
    }
}
