package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.HotplugCommands;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each command's effect and output, and every malformed form. */
class HotplugCommandsTest {
    private PageAllocator a;
    private HotplugCommands c;

    @BeforeEach
    void build() {
        a = PageAllocator.builder().maxOrder(6)
                .node(NodeSpec.fixed(4L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .node(NodeSpec.hotRemovable(4L << 20).startUnplugged())
                .build();
        c = new HotplugCommands(a);
    }

    @AfterEach
    void close() {
        a.checkInvariants();
        a.close();
    }

    @Test
    void trimGivesTheCachesBack() {
        a.free(a.allocate(4096, AllocFlags.HOTREMOVABLE, 1));
        long cached = a.status().zone(1).cachedPages();
        assertTrue(cached > 0, a.status().render());
        assertEquals("gave back " + cached + " cached pages\n", c.execute("trim"));
        assertEquals(0, a.status().zone(1).cachedPages());
        assertEquals("gave back 0 cached pages\n", c.execute("TRIM"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.execute("trim 1"));
        assertTrue(e.getMessage().contains("at most 0 arguments"), e.getMessage());
    }

    @Test
    void theOriginalSequence() {
        assertEquals(a.status().render(), c.execute("status"));
        assertEquals("node 2 plugged (disabled)\n", c.execute("plug 2"));
        assertEquals(NodeState.DISABLED, a.status().node(2).state());
        assertEquals("node 2 enabled\n", c.execute("enable 2"));
        long h = a.allocate(10_000, AllocFlags.HOTREMOVABLE, 1);
        a.setLong(h, 0, 99);
        assertEquals("node 1 disabled\n", c.execute("disable 1"));
        String drained = c.execute("drain 1");
        assertTrue(drained.startsWith("drain node 1: complete, moved 1 block (12 KiB) in "), drained);
        assertEquals(2, a.nodeOf(h));
        assertTrue(c.execute("unplug 1").startsWith("node 1 unplugged"));
        assertTrue(c.execute("status").contains("Node 1 unplugged hotremovable\n"));
        String remapped = c.execute("remap 2 1.5");
        assertTrue(remapped.startsWith("remap zone 2: complete, moved 1 block"), remapped);
        assertEquals(0, a.nodeOf(h), "Node 0's Normal zone is all that is left");
        c.execute("plug 1");
        c.execute("enable 1");
        String off = c.execute("  OFFLINE   1  0.5 ");
        assertTrue(off.startsWith("offline node 1: complete"), off);
        assertEquals(99, a.getLong(h, 0));
        assertTrue(c.execute("help").contains("offline N [s]"));
        a.free(h);
    }

    @Test
    void aDrainReportNamesStragglers() {
        long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
        c.execute("disable 1");
        try (Pin ignored = a.pin(h)) {
            String r = c.execute("drain 1 0.05");
            assertTrue(r.contains("incomplete") && r.contains("TIMED_OUT=1") && r.contains("PINNED=1"), r);
            assertTrue(r.contains("  pinned: 0x" + Long.toHexString(h) + " (pins 1"), r);
        }
        a.free(h);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "   ", "plug", "enable", "disable x", "unplug 1 2", "remap", "drain",
            "drain 1 2 3", "drain 1 soon", "drain 1 -1", "drain 1 NaN", "offline", "offline one",
            "status now", "help me", "frobnicate 1", "plug 99999999999", "plug 1.5", "remap 1 1e99"})
    void malformedCommandsShowTheUsageAndChangeNothing(String line) {
        String before = a.status().render();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.execute(line));
        assertTrue(e.getMessage().contains("commands:"), e.getMessage());
        assertEquals(before, a.status().render());
    }

    @Test
    void nullIsMalformed() {
        assertThrows(IllegalArgumentException.class, () -> c.execute(null));
    }

    @Test
    void unknownNodesAndZonesAreBadArguments() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> c.execute("plug 7")).getMessage()
                .contains("node 7"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> c.execute("remap 9")).getMessage()
                .contains("zone 9"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> c.execute("enable -1")).getMessage()
                .contains("node -1"));
    }

    @Test
    void refusedTransitionsAreIllegalStates() {
        assertTrue(assertThrows(IllegalStateException.class, () -> c.execute("enable 2")).getMessage()
                .contains("plug it first"));
        assertTrue(assertThrows(IllegalStateException.class, () -> c.execute("drain 1")).getMessage()
                .contains("disable it first"));
        assertTrue(assertThrows(IllegalStateException.class, () -> c.execute("unplug 1")).getMessage()
                .contains("disable it first"));
        assertTrue(assertThrows(IllegalStateException.class, () -> c.execute("offline 0")).getMessage()
                .contains("not hot-removable"));
        assertTrue(assertThrows(IllegalStateException.class, () -> c.execute("plug 0")).getMessage()
                .contains("plugged already"));
    }
}
