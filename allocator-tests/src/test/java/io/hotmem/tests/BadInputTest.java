package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.AllocationFailedException;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.StaleHandleException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import io.hotmem.HotplugCommands;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.List;
import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Misuse of the foundation API: each case checks the exception type, that the message names the bad value, and
 * that status and data are unchanged afterwards.
 */
class BadInputTest {
    private PageAllocator a;
    private long live;

    @BeforeEach
    void build() {
        a = PageAllocator.builder()
                .node(NodeSpec.fixed(4L << 20))
                .node(NodeSpec.hotRemovable(4L << 20))
                .node(NodeSpec.hotRemovable(4L << 20).startUnplugged())
                .build();
        live = a.allocate(100, AllocFlags.HOTREMOVABLE);
        a.setLong(live, 0, 0x1234L);
    }

    @AfterEach
    void close() {
        a.checkInvariants();
        a.close();
    }

    private <T extends Throwable> void rejects(Class<T> type, String mustName, Executable call) {
        String before = Snapshots.settled(a);
        T e = assertThrows(type, call);
        assertTrue(e.getMessage() != null && e.getMessage().contains(mustName),
                "message should name '" + mustName + "': " + e.getMessage());
        assertEquals(before, Snapshots.settled(a), "status changed by a refused call");
        assertEquals(0x1234L, a.getLong(live, 0), "data changed by a refused call");
    }

    @Test
    void badSizes() {
        rejects(IllegalArgumentException.class, "size 0", () -> a.allocate(0, 0));
        rejects(IllegalArgumentException.class, "size -5", () -> a.allocate(-5, 0));
        rejects(IllegalArgumentException.class, "size 4194305", () -> a.allocate((4L << 20) + 1, 0));
        rejects(IllegalArgumentException.class, "size 0", () -> a.tryAllocate(0, 0, 0));
    }

    @Test
    void badFlagsAndNodes() {
        rejects(IllegalArgumentException.class, "0x10", () -> a.allocate(10, 16));
        rejects(IllegalArgumentException.class, "0x80000000", () -> a.allocate(10, Integer.MIN_VALUE | 1));
        rejects(IllegalArgumentException.class, "node 3", () -> a.allocate(10, 0, 3));
        rejects(IllegalArgumentException.class, "node -1", () -> a.allocate(10, 0, -1));
        rejects(IllegalArgumentException.class, "node 9", () -> a.enable(9));
        rejects(IllegalArgumentException.class, "node -2", () -> a.plug(-2));
    }

    @Test
    void noMemory() {
        rejects(AllocationFailedException.class, "Normal[0] free", () -> {
            long h1 = a.allocate(4L << 20, AllocFlags.NONE);
            try {
                a.allocate(4096, AllocFlags.THISNODE, 0);
            } finally {
                a.free(h1);
            }
        });
        long h1 = a.allocate(4L << 20, AllocFlags.NONE);
        assertEquals(PageAllocator.NULL_HANDLE, a.tryAllocate(4096, AllocFlags.NONE, 0));
        AllocationFailedException e = assertThrows(AllocationFailedException.class,
                () -> a.allocate(4096, AllocFlags.ZERO, 1));
        assertTrue(e.getMessage().contains("4096 bytes") && e.getMessage().contains("ZERO"), e.getMessage());
        a.free(h1);
        rejects(AllocationFailedException.class, "no ENABLED node",
                () -> a.allocate(4096, AllocFlags.THISNODE | AllocFlags.HOTREMOVABLE, 2));
    }

    @Test
    void staleHandles() {
        long h = a.allocate(64, AllocFlags.HOTREMOVABLE);
        a.free(h);
        String hex = Long.toHexString(h);
        rejects(StaleHandleException.class, hex, () -> a.getLong(h, 0));
        rejects(StaleHandleException.class, hex, () -> a.setLong(h, 0, 1));
        rejects(StaleHandleException.class, hex, () -> a.free(h));
        rejects(StaleHandleException.class, hex, () -> a.pin(h));
        rejects(StaleHandleException.class, hex, () -> a.sizeOf(h));
        long reused = a.allocate(64, AllocFlags.HOTREMOVABLE);
        rejects(StaleHandleException.class, hex, () -> a.getLong(h, 0)); // same slot, new generation
        a.free(reused);
        rejects(StaleHandleException.class, "0x0", () -> a.getLong(0, 0));
        rejects(StaleHandleException.class, Long.toHexString(-1L), () -> a.getLong(-1L, 0));
        rejects(StaleHandleException.class, Long.toHexString(live + 1), () -> a.getLong(live + 1, 0));
        try (PageAllocator other = PageAllocator.builder().node(NodeSpec.fixed(1L << 20)).build()) {
            long foreign = other.allocate(64, 0);
            rejects(StaleHandleException.class, Long.toHexString(foreign), () -> a.getLong(foreign, 0));
            rejects(StaleHandleException.class, Long.toHexString(foreign), () -> a.free(foreign));
        }
    }

    @Test
    void offsetsOutsideTheAllocation() {
        rejects(IndexOutOfBoundsException.class, "93", () -> a.getLong(live, 93));
        rejects(IndexOutOfBoundsException.class, "-1", () -> a.getLong(live, -1));
        rejects(IndexOutOfBoundsException.class, "100", () -> a.setByte(live, 100, (byte) 1));
        rejects(IndexOutOfBoundsException.class, "97", () -> a.setInt(live, 97, 1));
        rejects(IndexOutOfBoundsException.class, Long.toString(Long.MAX_VALUE),
                () -> a.getLong(live, Long.MAX_VALUE));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(200);
            rejects(IndexOutOfBoundsException.class, "101", () -> a.copyFrom(seg, 0, live, 0, 101));
            rejects(IndexOutOfBoundsException.class, "-1", () -> a.copyTo(live, 0, seg, 0, -1));
            rejects(IndexOutOfBoundsException.class, "150", () -> a.copyFrom(seg, 150, live, 0, 100));
        }
        try (Pin pin = a.pin(live)) {
            rejects(IndexOutOfBoundsException.class, "96", () -> pin.setLong(96, 1));
        }
    }

    @Test
    void wrongStates() {
        rejects(IllegalStateException.class, "node 2", () -> a.enable(2));
        rejects(IllegalStateException.class, "node 0", () -> a.plug(0));
        rejects(IllegalStateException.class, "disable it first", () -> a.unplug(1));
        rejects(IllegalStateException.class, "node 2", () -> a.unplug(2));
        rejects(IllegalStateException.class, "node 2", () -> a.disable(2));
        rejects(IllegalStateException.class, "node 1", () -> a.enable(1));
        a.disable(1);
        rejects(IllegalStateException.class, "1 live allocation", () -> a.unplug(1));
        a.enable(1);
        rejects(IllegalStateException.class, "movable", () -> a.segment(live));
        Pin pin = a.pin(live);
        rejects(IllegalStateException.class, "pinned", () -> a.free(live));
        pin.close();
        pin.close();
        rejects(IllegalStateException.class, "closed", pin::segment);
    }

    @Test
    void relocationMisuse() {
        Duration t = Duration.ofSeconds(1);
        rejects(IllegalStateException.class, "disable it first", () -> a.drain(1, t));
        rejects(IllegalStateException.class, "node 2", () -> a.drain(2, t));
        rejects(IllegalArgumentException.class, "node 5", () -> a.drain(5, t));
        rejects(IllegalArgumentException.class, "node 9", () -> a.drain(1, 9, t));
        rejects(IllegalArgumentException.class, "target node -1", () -> a.drain(1, -1, t));
        rejects(IllegalArgumentException.class, "zone 17", () -> a.remap(17, t));
        rejects(IllegalArgumentException.class, "zone -1", () -> a.remap(-1, t));
        rejects(IllegalStateException.class, "zone 2", () -> a.remap(2, t)); // node 2 unplugged
        rejects(IllegalArgumentException.class, "PT-1S", () -> a.remap(0, Duration.ofSeconds(-1)));
        rejects(IllegalArgumentException.class, "PT-0.001S", () -> a.compact(0, Duration.ofMillis(-1)));
        rejects(IllegalArgumentException.class, "PT-1S", () -> a.offline(1, Duration.ofSeconds(-1)));
        rejects(NullPointerException.class, "timeout", () -> a.offline(1, null));
        rejects(IllegalStateException.class, "not hot-removable", () -> a.offline(0, t));
        rejects(IllegalStateException.class, "unplugged already", () -> a.offline(2, t));
        a.disable(1);
        rejects(IllegalArgumentException.class, "target node 1", () -> a.drain(1, 1, t));
        rejects(IllegalArgumentException.class, "PT-1S", () -> a.drain(1, Duration.ofSeconds(-1)));
        rejects(IllegalArgumentException.class, "PT-1S", () -> a.drain(1, 0, Duration.ofSeconds(-1)));
        // The longest Duration there is: no deadline in effect, accepted (the one allocation moves off node 1).
        assertTrue(a.drain(1, Duration.ofSeconds(Long.MAX_VALUE, 999_999_999)).complete());
        assertEquals(0x1234L, a.getLong(live, 0));
        a.enable(1);
        long h = a.allocate(8, AllocFlags.HOTREMOVABLE);
        a.free(h);
        rejects(StaleHandleException.class, Long.toHexString(h), () -> a.pinLongTerm(h));
        rejects(NullPointerException.class, "listener", () -> a.addListener(null));
        rejects(NullPointerException.class, "listener", () -> a.removeListener(null));
    }

    @Test
    void commandsMisuse() {
        HotplugCommands c = new HotplugCommands(a);
        rejects(IllegalArgumentException.class, "'frob'", () -> c.execute("frob 1"));
        rejects(IllegalArgumentException.class, "'x'", () -> c.execute("plug x"));
        rejects(IllegalArgumentException.class, "at most 1 argument", () -> c.execute("enable 1 2"));
        rejects(IllegalArgumentException.class, "'soon'", () -> c.execute("drain 1 soon"));
        rejects(IllegalArgumentException.class, "deadline -3", () -> c.execute("offline 1 -3"));
        rejects(IllegalArgumentException.class, "empty command", () -> c.execute(""));
        rejects(IllegalArgumentException.class, "node 42", () -> c.execute("plug 42"));
        rejects(IllegalStateException.class, "node 2", () -> c.execute("enable 2"));
        rejects(IllegalStateException.class, "1 live allocation", () -> {
            a.disable(1);
            try {
                c.execute("unplug 1");
            } finally {
                a.enable(1);
            }
        });
    }

    @Test
    void everyCallAfterCloseIsAnIllegalState() {
        PageAllocator b = PageAllocator.builder().node(NodeSpec.hotRemovable(1L << 20)).build();
        long h = b.allocate(64, AllocFlags.HOTREMOVABLE);
        b.close();
        Duration t = Duration.ofSeconds(1);
        List<Executable> calls = List.of(() -> b.allocate(8, 0), () -> b.allocate(8, 0, 0),
                () -> b.tryAllocate(8, 0, 0), () -> b.free(h), () -> b.sizeOf(h), () -> b.getLong(h, 0),
                () -> b.setLong(h, 0, 1), () -> b.getInt(h, 0), () -> b.setByte(h, 0, (byte) 1), () -> b.pin(h),
                () -> b.pinLongTerm(h), () -> b.segment(h), () -> b.plug(0), () -> b.enable(0), () -> b.disable(0),
                () -> b.unplug(0), () -> b.addNode(NodeSpec.fixed(1L << 20)), () -> b.status(), () -> b.nodeCount(),
                () -> b.checkInvariants(), () -> b.drain(0, t), () -> b.remap(0, t), () -> b.offline(0, t),
                () -> new HotplugCommands(b).execute("status"));
        for (Executable call : calls) {
            IllegalStateException e = assertThrows(IllegalStateException.class, call);
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
        b.close(); // a second close does nothing
    }

    @Test
    void badBuilderAndSpecs() {
        assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder().pageSize(1000));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder().pageSize(2048))
                .getMessage().contains("2048"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder().maxOrder(21))
                .getMessage().contains("21"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> NodeSpec.fixed(0))
                .getMessage().contains("0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> NodeSpec.hotRemovable(1 << 20)
                .movableBytes(4096)).getMessage().contains("4096"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> NodeSpec.fixed(1 << 20)
                .movableBytes(1 << 20)).getMessage().contains(Integer.toString(1 << 20)));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PageAllocator.builder()
                .node(NodeSpec.fixed(10_000)).build()).getMessage().contains("10000"));
        rejects(IllegalArgumentException.class, "6000", () -> a.addNode(NodeSpec.fixed(12288).movableBytes(6000)));
        assertEquals(3, a.nodeCount(), "a refused addNode adds nothing");
    }
}
