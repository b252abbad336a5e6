package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.MemoryStatus;
import io.hotmem.NodeSpec;
import io.hotmem.NodeState;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.ZoneType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every line of the foundation contract, as a user writes it. */
class ApiContractTest {
    private PageAllocator a;

    @BeforeEach
    void build() {
        a = PageAllocator.builder()
                .name("example").pageSize(4096).maxOrder(10)
                .node(NodeSpec.fixed(64L << 20))
                .node(NodeSpec.hotRemovable(64L << 20))
                .node(NodeSpec.hotRemovable(64L << 20).startUnplugged())
                .build();
    }

    @AfterEach
    void close() {
        a.checkInvariants();
        a.close();
    }

    @Test
    void theQuickStartWorksAsWritten() {
        long h = a.allocate(10_000, AllocFlags.HOTREMOVABLE);
        long p = a.allocate(4096, AllocFlags.ZERO, 0);
        long t = a.tryAllocate(1 << 20, AllocFlags.NONE, 0);
        assertNotEquals(PageAllocator.NULL_HANDLE, h);
        assertNotEquals(PageAllocator.NULL_HANDLE, p);
        assertNotEquals(PageAllocator.NULL_HANDLE, t);
        assertEquals(10_000, a.sizeOf(h));
        assertEquals(1, a.nodeOf(h), "HOTREMOVABLE prefers the lowest ENABLED node's MOVABLE zone first... "
                + "node 0 has none, so node 1's");
        assertEquals(1, a.zoneOf(h));
        assertTrue(a.isMovable(h));
        assertFalse(a.isMovable(p));
        assertEquals(0, a.nodeOf(p));
        assertEquals(0, a.zoneOf(p));

        a.setLong(h, 8, 42L);
        assertEquals(42L, a.getLong(h, 8));
        a.setInt(h, 9_996, 7);
        assertEquals(7, a.getInt(h, 9_996));
        a.setByte(h, 9_999, (byte) -3);
        assertEquals((byte) -3, a.getByte(h, 9_999));

        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(100);
            for (int i = 0; i < 100; i++) {
                src.set(ValueLayout.JAVA_BYTE, i, (byte) i);
            }
            a.copyFrom(src, 0, h, 1000, 100);
            MemorySegment dst = arena.allocate(100);
            a.copyTo(h, 1000, dst, 0, 100);
            assertArrayEquals(src.toArray(ValueLayout.JAVA_BYTE), dst.toArray(ValueLayout.JAVA_BYTE));
        }
        try (Pin pin = a.pin(h)) {
            MemorySegment s = pin.segment();
            assertEquals(10_000, s.byteSize());
            assertEquals(42L, s.get(ValueLayout.JAVA_LONG_UNALIGNED, 8));
            pin.setLong(16, 99L);
            assertEquals(99L, pin.getLong(16));
        }
        assertEquals(99L, a.getLong(h, 16));

        MemorySegment fixed = a.segment(p);
        assertEquals(4096, fixed.byteSize());
        for (long off = 0; off < 4096; off += 8) {
            assertEquals(0L, fixed.get(ValueLayout.JAVA_LONG, off), "ZERO memory at " + off);
        }
        fixed.set(ValueLayout.JAVA_LONG, 0, 5L);
        assertEquals(5L, a.getLong(p, 0));

        a.free(h);
        a.free(p);
        a.free(t);
        MemoryStatus st = a.status();
        assertEquals(0, st.zone(0).activePages());
        assertEquals(0, st.zone(1).activePages());
    }

    @Test
    void lifecycleAndStatusView() {
        a.plug(2);
        assertEquals(NodeState.DISABLED, a.status().node(2).state());
        a.enable(2);
        a.disable(1);
        long h = a.allocate(4096, AllocFlags.HOTREMOVABLE, 1);
        assertEquals(2, a.nodeOf(h), "node 1 is disabled; node 2 is the nearest MOVABLE zone (0 has none)");
        a.unplug(1);
        int id = a.addNode(NodeSpec.hotRemovable(32L << 20));
        assertEquals(3, id);
        assertEquals(4, a.nodeCount());
        assertEquals(NodeState.ENABLED, a.status().node(3).state());
        assertEquals(3, a.status().node(3).zones().getFirst().id(), "zone ids continue: Normal[0], Movable[1], "
                + "Movable[2], then Movable[3]");

        // One 4 KiB allocation took a batch of 64 pages into this thread's cache (63 of them cached, free); memory
        // never touched counts as purged (not resident).
        String expected = """
                Node 0 enabled nonhotremovable
                Normal[0]: free 16384, active 0, present 16384, cached 0, purged 16384

                Node 1 unplugged hotremovable

                Node 2 enabled hotremovable
                Movable[2]: free 16383, active 1, present 16384, cached 63, purged 16320

                Node 3 enabled hotremovable
                Movable[3]: free 8192, active 0, present 8192, cached 0, purged 8192
                """;
        assertEquals(expected, a.status().render());
        a.free(h);
    }

    @Test
    void fixedNodeWithAMovableZone() {
        try (PageAllocator b = PageAllocator.builder()
                .node(NodeSpec.fixed(8L << 20).movableBytes(2L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .build()) {
            var zones = b.status().node(0).zones();
            assertEquals(2, zones.size());
            assertEquals(ZoneType.NORMAL, zones.get(0).type());
            assertEquals(1536, zones.get(0).presentPages());
            assertEquals(ZoneType.MOVABLE, zones.get(1).type());
            assertEquals(512, zones.get(1).presentPages());
            assertEquals(2, b.status().node(1).zones().getFirst().id());
            long m = b.allocate(4096, AllocFlags.HOTREMOVABLE);
            assertEquals(1, b.zoneOf(m), "MOVABLE zone of the preferred node first");
            long n = b.allocate(4096, AllocFlags.NONE, 1);
            assertEquals(0, b.zoneOf(n), "non-movable never lands in a MOVABLE zone: node 1 has only one");
            assertEquals("""
                    Node 0 enabled nonhotremovable
                    Normal[0]: free 1535, active 1, present 1536, cached 5, purged 1530
                    Movable[1]: free 511, active 1, present 512, cached 1, purged 510

                    Node 1 enabled hotremovable
                    Movable[2]: free 1024, active 0, present 1024, cached 0, purged 1024
                    """, b.status().render());
            b.checkInvariants();
        }
    }

    @Test
    void requestsHoldExactPagesOrWholeBlocksWhenAligned() {
        long[] sizes = {1, 4096, 4097, 8192, 8193, 12288, 16384, 20481, 4L << 20};
        long[] exact = {1, 1, 2, 2, 3, 3, 4, 6, 1024};
        long[] aligned = {1, 1, 2, 2, 4, 4, 4, 8, 1024};
        for (int i = 0; i < sizes.length; i++) {
            long h = a.allocate(sizes[i], AllocFlags.NONE, 0);
            assertEquals(exact[i], a.status().zone(0).activePages(), "pages for " + sizes[i] + " bytes");
            assertEquals(sizes[i], a.sizeOf(h));
            a.checkInvariants();
            a.free(h);
            long g = a.allocate(sizes[i], AllocFlags.ALIGNED, 0);
            assertEquals(aligned[i], a.status().zone(0).activePages(), "ALIGNED pages for " + sizes[i] + " bytes");
            assertEquals(sizes[i], a.sizeOf(g));
            a.free(g);
        }
        a.checkInvariants();
    }

    @Test
    void zeroFlagZeroesReusedMemory() {
        long h = a.allocate(8192, AllocFlags.NONE, 0);
        for (long off = 0; off < 8192; off += 8) {
            a.setLong(h, off, -1L);
        }
        a.free(h);
        long z = a.allocate(8192, AllocFlags.ZERO, 0);
        for (long off = 0; off < 8192; off += 8) {
            assertEquals(0L, a.getLong(z, off));
        }
        a.free(z);
    }

    @Test
    void closeReleasesEverythingAndLaterCallsFail() {
        long h = a.allocate(4096, AllocFlags.HOTREMOVABLE);
        a.checkInvariants();
        a.close();
        a.close();
        assertThrows(IllegalStateException.class, () -> a.getLong(h, 0));
        assertThrows(IllegalStateException.class, () -> a.setLong(h, 0, 1));
        assertThrows(IllegalStateException.class, () -> a.allocate(4096, 0));
        assertThrows(IllegalStateException.class, () -> a.status());
        assertThrows(IllegalStateException.class, () -> a.plug(2));
        build(); // for the @AfterEach
    }
}
