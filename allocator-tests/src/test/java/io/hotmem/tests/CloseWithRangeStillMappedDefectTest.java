package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * close() while something keeps the allocator's address range mapped (a scoped reader's view, or a pinned user
 * segment, inside blocking I/O): close completes and leaves the range mapped rather than unmap it under the I/O.
 * The typed reads ({@code getLong}, {@code getInt}, {@code getByte}) do not check for close (they rely on the
 * range being closed), so before the fix they went on answering after close: the handle's entry was still live
 * and the range still readable. Every one must throw IllegalStateException, as the closed-allocator contract says.
 */
class CloseWithRangeStillMappedDefectTest {

    @Test
    void typedReadsThrowAfterCloseWhileAScopedReaderKeepsTheRangeMapped() throws Exception {
        PageAllocator a = PageAllocator.builder().name("mapped-after-close").backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(8L << 20)).node(NodeSpec.hotRemovable(64L << 20)).build();
        long blocked = a.allocate(1 << 20, AllocFlags.NONE);
        long fixed = a.allocate(4096, AllocFlags.NONE);
        long movable = a.allocate(4096, AllocFlags.HOTREMOVABLE);
        long[] many = new long[10_000]; // past the handle table's first chunk (8,192 slots)
        for (int i = 0; i < many.length; i++) {
            many[i] = a.allocate(64, AllocFlags.HOTREMOVABLE);
        }
        a.setLong(fixed, 0, 42);
        a.setLong(movable, 8, 43);
        a.setLong(many[many.length - 1], 0, 44);
        assertEquals(44, a.getLong(many[many.length - 1], 0));
        blockAScopedReaderAndClose(a, blocked, () -> {
            for (long h : new long[] {fixed, movable, many[0], many[many.length - 1], blocked}) {
                assertThrows(IllegalStateException.class, () -> a.getLong(h, 0), "getLong after close");
                assertThrows(IllegalStateException.class, () -> a.getInt(h, 8), "getInt after close");
                assertThrows(IllegalStateException.class, () -> a.getByte(h, 8), "getByte after close");
                assertThrows(IllegalStateException.class, () -> a.readAsLong(h, s -> 1L), "readAsLong after close");
                assertThrows(IllegalStateException.class, () -> a.read(h, Function.identity()), "read after close");
                assertThrows(IllegalStateException.class, () -> a.setLong(h, 0, 1), "setLong after close");
                assertThrows(IllegalStateException.class, () -> a.pin(h), "pin after close");
                assertThrows(IllegalStateException.class, () -> a.sizeOf(h), "sizeOf after close");
                assertThrows(IllegalStateException.class, () -> a.free(h), "free after close");
            }
            assertThrows(IllegalStateException.class, () -> a.allocate(4096, AllocFlags.NONE));
        });
    }

    @Test
    void typedReadsThrowAfterCloseWhileAPinnedSegmentKeepsItsNodeMapped() throws Exception {
        PageAllocator a = PageAllocator.builder().name("pinned-after-close").backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(8L << 20)).build();
        long h = a.allocate(1 << 20, AllocFlags.NONE);
        long other = a.allocate(4096, AllocFlags.NONE);
        a.setLong(other, 0, 42);
        try (BlockedInIo io = BlockedInIo.pinnedSegment(a, h)) {
            a.close();
            assertThrows(IllegalStateException.class, () -> a.getLong(other, 0), "getLong after close");
            assertThrows(IllegalStateException.class, () -> a.getInt(other, 0), "getInt after close");
            assertThrows(IllegalStateException.class, () -> a.getByte(other, 0), "getByte after close");
        }
    }

    private static void blockAScopedReaderAndClose(PageAllocator a, long h, Runnable afterClose) throws Exception {
        try (BlockedInIo io = BlockedInIo.scopedReader(a, h)) {
            a.close();
            afterClose.run();
        }
    }
}
