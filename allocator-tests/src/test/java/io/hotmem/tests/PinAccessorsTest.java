package io.hotmem.tests;

import io.hotmem.AllocFlags;
import io.hotmem.FailureReason;
import io.hotmem.NodeSpec;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;
import io.hotmem.RelocationReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The typed accessors of {@link Pin} (long, int, byte, copyFrom, copyTo) and {@link Pin#size()}: they agree with the
 * allocator's own accessors, check their ranges (IndexOutOfBoundsException naming the range, nothing changed),
 * refuse everything once closed, and a pinned record stays where it is and intact while a remap runs. Fixed seeds.
 */
class PinAccessorsTest {
    private static final long MIB = 1L << 20;

    private static PageAllocator allocator(String name) {
        return PageAllocator.builder().name(name).pageSize(4096).maxOrder(6).backgroundThread(false).jmx(false)
                .node(NodeSpec.fixed(4 * MIB))          // node 0: Normal[0]
                .node(NodeSpec.hotRemovable(4 * MIB))   // node 1: Movable[1]
                .node(NodeSpec.hotRemovable(4 * MIB))   // node 2: Movable[2]
                .build();
    }

    /** Movable and non-movable allocations of sizes that are not all multiples of 8, and not all whole blocks. */
    private static final long[] SIZES = {13, 64, 1000, 4096, 4099, 20_000};
    private static final int[] FLAGS = {AllocFlags.HOTREMOVABLE | AllocFlags.ZERO, AllocFlags.ZERO};

    private static byte[] contents(PageAllocator a, long h) {
        MemorySegment copy = MemorySegment.ofArray(new byte[(int) a.sizeOf(h)]);
        a.copyTo(h, 0, copy, 0, copy.byteSize());
        return copy.toArray(JAVA_BYTE);
    }

    @Test
    void sizeAndHandleAreTheAllocations() {
        try (PageAllocator a = allocator("pin-size")) {
            for (long size : SIZES) {
                for (int flags : FLAGS) {
                    long h = a.allocate(size, flags);
                    try (Pin p = a.pin(h)) {
                        assertEquals(size, p.size());
                        assertEquals(a.sizeOf(h), p.size());
                        assertEquals(h, p.handle());
                        assertEquals(size, p.segment().byteSize());
                    }
                    a.free(h);
                }
            }
        }
    }

    /**
     * Values written through a pin read back through it and through the allocator, and the other way round, at
     * aligned and unaligned offsets up to the last byte; copyFrom and copyTo move the same bytes as the allocator's
     * copies; the byte order is the same for both (a long written is the 8 bytes read back one by one).
     */
    @Test
    void typedAccessorsRoundTripAndAgreeWithTheAllocator() {
        try (PageAllocator a = allocator("pin-roundtrip"); Arena arena = Arena.ofConfined()) {
            SplittableRandom r = new SplittableRandom(17);
            for (long size : SIZES) {
                for (int flags : FLAGS) {
                    long h = a.allocate(size, flags);
                    String what = size + " bytes, " + AllocFlags.toString(flags);
                    try (Pin p = a.pin(h)) {
                        // bytes, everywhere (the last one included)
                        for (long off = 0; off < size; off += 1 + r.nextInt(7)) {
                            byte b = (byte) r.nextInt();
                            p.setByte(off, b);
                            assertEquals(b, p.getByte(off), what + " byte " + off);
                            assertEquals(b, a.getByte(h, off), what + " byte " + off);
                        }
                        p.setByte(size - 1, (byte) 0x7E);
                        assertEquals((byte) 0x7E, a.getByte(h, size - 1), what);
                        a.setByte(h, size - 1, (byte) -2);
                        assertEquals((byte) -2, p.getByte(size - 1), what);
                        if (size >= 4) {
                            for (long off : new long[] {0, 1, 3, size / 2, size - 4}) {
                                int v = r.nextInt();
                                p.setInt(off, v);
                                assertEquals(v, p.getInt(off), what + " int " + off);
                                assertEquals(v, a.getInt(h, off), what + " int " + off);
                                int w = r.nextInt();
                                a.setInt(h, off, w);
                                assertEquals(w, p.getInt(off), what + " int " + off);
                            }
                        }
                        if (size >= 8) {
                            for (long off : new long[] {0, 1, 5, 8, size / 2, size - 8}) {
                                if (off + 8 > size) {
                                    continue;
                                }
                                long v = r.nextLong();
                                p.setLong(off, v);
                                assertEquals(v, p.getLong(off), what + " long " + off);
                                assertEquals(v, a.getLong(h, off), what + " long " + off);
                                long w = r.nextLong();
                                a.setLong(h, off, w);
                                assertEquals(w, p.getLong(off), what + " long " + off);
                                // The same bytes, in the same (native) order, through both.
                                MemorySegment eight = MemorySegment.ofArray(new byte[8]);
                                eight.set(JAVA_LONG_UNALIGNED, 0, w);
                                for (int k = 0; k < 8; k++) {
                                    assertEquals(eight.get(JAVA_BYTE, k), p.getByte(off + k), what);
                                }
                                int lo = p.getInt(off);
                                assertEquals(eight.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0), lo, what);
                            }
                        }
                        // copyFrom: a random source, at an offset, into the middle
                        long n = Math.max(1, size / 3);
                        long at = size - n;
                        MemorySegment src = arena.allocate(n + 5);
                        for (long k = 0; k < src.byteSize(); k++) {
                            src.set(JAVA_BYTE, k, (byte) r.nextInt());
                        }
                        p.copyFrom(src, 5, at, n);
                        MemorySegment back = arena.allocate(n);
                        a.copyTo(h, at, back, 0, n);
                        assertEquals(-1, MemorySegment.mismatch(src, 5, 5 + n, back, 0, n), what);
                        // copyTo agrees with the allocator's copyTo over the whole allocation
                        MemorySegment viaPin = arena.allocate(size + 3);
                        p.copyTo(0, viaPin, 3, size);
                        MemorySegment viaAllocator = arena.allocate(size);
                        a.copyTo(h, 0, viaAllocator, 0, size);
                        assertEquals(-1, MemorySegment.mismatch(viaPin, 3, 3 + size, viaAllocator, 0, size), what);
                        // and with the pin's own segment
                        assertEquals(-1, MemorySegment.mismatch(p.segment(), 0, size, viaAllocator, 0, size), what);
                        // a copy the allocator made is seen by the pin
                        MemorySegment src2 = MemorySegment.ofArray(new byte[(int) n]);
                        src2.fill((byte) 0x33);
                        a.copyFrom(src2, 0, h, 0, n);
                        for (long k = 0; k < n; k++) {
                            assertEquals((byte) 0x33, p.getByte(k), what);
                        }
                    }
                    a.free(h);
                }
            }
            Snapshots.check(a);
        }
    }

    /**
     * Out-of-range calls (offset -1, the last bytes too short for the width, beyond the end, huge offsets and
     * lengths, negative lengths) throw IndexOutOfBoundsException naming the offset, and change nothing in the
     * allocation nor in a destination; the pin stays usable after each.
     */
    @Test
    void outOfRangeAccessesThrowNamingTheRangeAndChangeNothing() {
        try (PageAllocator a = allocator("pin-bounds")) {
            for (long size : new long[] {13, 1000, 4096}) {
                for (int flags : FLAGS) {
                    long h = a.allocate(size, flags);
                    SplittableRandom r = new SplittableRandom(size);
                    for (long off = 0; off < size; off++) {
                        a.setByte(h, off, (byte) r.nextInt());
                    }
                    byte[] before = contents(a, h);
                    MemorySegment src = MemorySegment.ofArray(new byte[(int) size + 16]);
                    src.fill((byte) 0x11);
                    MemorySegment dst = MemorySegment.ofArray(new byte[(int) size + 16]);
                    dst.fill((byte) 0x22);
                    try (Pin p = a.pin(h)) {
                        // offset of the call -> the call
                        Map<String, Map.Entry<Long, Executable>> calls = new LinkedHashMap<>();
                        for (long off : new long[] {-1, size - 7, size, Long.MAX_VALUE, Long.MIN_VALUE}) {
                            calls.put("getLong(" + off + ")", Map.entry(off, () -> p.getLong(off)));
                            calls.put("setLong(" + off + ")", Map.entry(off, () -> p.setLong(off, -1L)));
                        }
                        for (long off : new long[] {-1, size - 3, size, Long.MAX_VALUE, Long.MIN_VALUE}) {
                            calls.put("getInt(" + off + ")", Map.entry(off, () -> p.getInt(off)));
                            calls.put("setInt(" + off + ")", Map.entry(off, () -> p.setInt(off, -1)));
                        }
                        for (long off : new long[] {-1, size, size + 1, Long.MAX_VALUE, Long.MIN_VALUE}) {
                            calls.put("getByte(" + off + ")", Map.entry(off, () -> p.getByte(off)));
                            calls.put("setByte(" + off + ")", Map.entry(off, () -> p.setByte(off, (byte) -1)));
                        }
                        long[][] copies = {
                                {-1, 1}, {0, size + 1}, {1, size}, {size - 10, 11}, {size, 1}, {Long.MAX_VALUE, 1},
                                {1, Long.MAX_VALUE}, {Long.MAX_VALUE, Long.MAX_VALUE}, {0, -1}, {size / 2, -8},
                                {Long.MIN_VALUE, 8}};
                        for (long[] c : copies) {
                            long off = c[0];
                            long n = c[1];
                            calls.put("copyFrom(" + off + ", " + n + ")",
                                    Map.entry(off, () -> p.copyFrom(src, 0, off, n)));
                            calls.put("copyTo(" + off + ", " + n + ")",
                                    Map.entry(off, () -> p.copyTo(off, dst, 0, n)));
                        }
                        List<String> wrong = new ArrayList<>();
                        for (var e : calls.entrySet()) {
                            try {
                                e.getValue().getValue().execute();
                                wrong.add(e.getKey() + " returned normally");
                            } catch (IndexOutOfBoundsException ex) {
                                String m = String.valueOf(ex.getMessage());
                                if (!m.contains(Long.toString(e.getValue().getKey()))) {
                                    wrong.add(e.getKey() + ": the message does not name the offset: " + m);
                                }
                            } catch (Throwable t) {
                                wrong.add(e.getKey() + " threw " + t);
                            }
                        }
                        assertTrue(wrong.isEmpty(), () -> size + " bytes, " + AllocFlags.toString(flags) + ":\n  "
                                + String.join("\n  ", wrong));

                        // The source or destination out of its own range: IndexOutOfBounds, nothing copied.
                        assertThrows(IndexOutOfBoundsException.class, () -> p.copyFrom(src, size + 10, 0, 8));
                        assertThrows(IndexOutOfBoundsException.class, () -> p.copyFrom(src, -1, 0, 8));
                        assertThrows(IndexOutOfBoundsException.class, () -> p.copyTo(0, dst, size + 10, 8));
                        assertThrows(IndexOutOfBoundsException.class, () -> p.copyTo(0, dst, -1, 8));
                        // A read-only destination: IllegalArgumentException, nothing copied.
                        MemorySegment readOnly = dst.asReadOnly();
                        assertThrows(IllegalArgumentException.class, () -> p.copyTo(0, readOnly, 0, 8));
                        assertThrows(NullPointerException.class, () -> p.copyTo(0, null, 0, 8));
                        assertThrows(NullPointerException.class, () -> p.copyFrom(null, 0, 0, 8));

                        // In range at the very end still works (after all those refusals).
                        assertEquals(before[(int) size - 1], p.getByte(size - 1));
                        p.getInt(size - 4);
                        p.getLong(size - 8);
                    }
                    assertArrayEquals(before, contents(a, h), "the allocation changed");
                    MemorySegment untouched = MemorySegment.ofArray(new byte[(int) size + 16]);
                    untouched.fill((byte) 0x22);
                    assertEquals(-1, dst.mismatch(untouched), "the destination changed");
                    a.free(h); // not left pinned by a refused call
                }
            }
        }
    }

    /** After close, every accessor and segment() throw IllegalStateException and write nothing; close is idempotent. */
    @Test
    void everyAccessorThrowsIllegalStateAfterThePinIsClosed() {
        try (PageAllocator a = allocator("pin-closed")) {
            for (int flags : FLAGS) {
                long h = a.allocate(100, flags);
                a.setLong(h, 0, 7L);
                Pin p = a.pin(h);
                p.close();
                p.close(); // idempotent
                MemorySegment src = MemorySegment.ofArray(new byte[16]);
                src.fill((byte) 0x44);
                MemorySegment dst = MemorySegment.ofArray(new byte[16]);
                Map<String, Executable> calls = new LinkedHashMap<>();
                calls.put("segment()", p::segment);
                calls.put("getLong", () -> p.getLong(0));
                calls.put("setLong", () -> p.setLong(0, -1L));
                calls.put("getInt", () -> p.getInt(0));
                calls.put("setInt", () -> p.setInt(0, -1));
                calls.put("getByte", () -> p.getByte(0));
                calls.put("setByte", () -> p.setByte(0, (byte) -1));
                calls.put("copyFrom", () -> p.copyFrom(src, 0, 0, 16));
                calls.put("copyTo", () -> p.copyTo(0, dst, 0, 16));
                List<String> wrong = new ArrayList<>();
                for (var e : calls.entrySet()) {
                    try {
                        e.getValue().execute();
                        wrong.add(e.getKey() + " returned normally");
                    } catch (IllegalStateException expected) {
                        // closed
                    } catch (Throwable t) {
                        wrong.add(e.getKey() + " threw " + t);
                    }
                }
                assertTrue(wrong.isEmpty(), () -> AllocFlags.toString(flags) + ", after Pin.close():\n  "
                        + String.join("\n  ", wrong));
                assertEquals(7L, a.getLong(h, 0), "a closed pin wrote");
                assertEquals(-1, dst.mismatch(MemorySegment.ofArray(new byte[16])),
                        "a closed pin copied out");
                a.free(h); // the closed pin holds nothing, and a second close() did not unpin someone else's pin
            }

            // Two pins: closing one twice must not drop the other.
            long h = a.allocate(100, AllocFlags.HOTREMOVABLE, 1);
            Pin first = a.pin(h);
            Pin second = a.pin(h);
            first.close();
            first.close();
            assertThrows(IllegalStateException.class, () -> a.free(h), "still pinned by the second pin");
            RelocationReport rep = a.remap(1, Duration.ZERO);
            assertFalse(rep.complete(), () -> "the second pin must hold the block: " + rep);
            second.setLong(0, 5L);
            assertEquals(5L, second.getLong(0));
            second.close();
            a.free(h);
        }
    }

    /**
     * While a pin is open, a remap of the block's zone (run on another thread, with a deadline) cannot move it: the
     * report is incomplete, says PINNED and names the handle; the record written through the pin throughout stays
     * intact and at the same address, while the zone's unpinned blocks move. Once the pin is closed the block moves
     * with its record.
     */
    @Test
    void aPinnedRecordStaysIntactAndInPlaceWhileARemapRuns() throws Exception {
        try (PageAllocator a = allocator("pin-remap")) {
            long h = a.allocate(4096, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
            long[] others = new long[8];
            for (int i = 0; i < others.length; i++) {
                others[i] = a.allocate(8192, AllocFlags.HOTREMOVABLE | AllocFlags.THISNODE, 1);
                a.setLong(others[i], 0, 1000 + i);
            }
            CountDownLatch remapStarted = new CountDownLatch(1);
            long last;
            CompletableFuture<RelocationReport> remap = new CompletableFuture<>();
            try (Pin p = a.pin(h)) {
                long address = p.segment().address();
                Thread remapper = Thread.ofPlatform().name("remapper").start(() -> {
                    remapStarted.countDown();
                    try {
                        remap.complete(a.remap(1, Duration.ofMillis(300)));
                    } catch (Throwable t) {
                        remap.completeExceptionally(t);
                    }
                });
                assertTrue(remapStarted.await(10, TimeUnit.SECONDS));
                long c = 0;
                // Write and check the record through the pin until the remap has given up on it.
                do {
                    c++;
                    for (int k = 0; k < 8; k++) {
                        p.setLong(8L * k, c);
                    }
                    p.setInt(64, (int) c);
                    p.setByte(68, (byte) c);
                    for (int k = 0; k < 8; k++) {
                        assertEquals(c, p.getLong(8L * k), "record long " + k);
                    }
                    assertEquals((int) c, p.getInt(64));
                    assertEquals((byte) c, p.getByte(68));
                    assertEquals(address, p.segment().address(), "a pinned block moved");
                    assertEquals(1, a.nodeOf(h));
                } while (!remap.isDone());
                last = c;
                remapper.join(10_000);
                RelocationReport rep = remap.get();
                assertFalse(rep.complete(), rep::toString);
                assertEquals(1, rep.remaining(), rep::toString);
                assertTrue(rep.failures().containsKey(FailureReason.PINNED), rep::toString);
                assertEquals(List.of(h), rep.pinnedHandles(), rep::toString);
                assertEquals(1, rep.stragglers().get(0).pins(), rep::toString);
                assertEquals(others.length, rep.moved(), () -> "the unpinned blocks move: " + rep);
                assertEquals(address, p.segment().address());
                for (int k = 0; k < 8; k++) {
                    assertEquals(last, p.getLong(8L * k));
                }
            }
            assertEquals(1, a.nodeOf(h));
            RelocationReport after = a.remap(1, Duration.ofSeconds(20));
            assertTrue(after.complete() && after.moved() == 1, after::toString);
            assertTrue(a.nodeOf(h) != 1, "moved once unpinned");
            for (int k = 0; k < 8; k++) {
                assertEquals(last, a.getLong(h, 8L * k), "the record moved intact");
            }
            assertEquals((int) last, a.getInt(h, 64));
            assertEquals((byte) last, a.getByte(h, 68));
            for (int i = 0; i < others.length; i++) {
                assertTrue(a.nodeOf(others[i]) != 1);
                assertEquals(1000 + i, a.getLong(others[i], 0));
                a.free(others[i]);
            }
            a.free(h);
            Snapshots.check(a);
        }
    }

    /** A pin left open across close(): every accessor reports the allocator as closed, and close() of the pin is harmless. */
    @Test
    void aPinKeptAcrossCloseReportsTheAllocatorClosed() {
        PageAllocator a = PageAllocator.builder().name("pin-after-close").node(NodeSpec.hotRemovable(1 << 20)).build();
        long h = a.allocate(64, AllocFlags.HOTREMOVABLE);
        Pin p = a.pin(h);
        p.setLong(0, 7);
        a.close();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(8);
            Map<String, Executable> calls = new LinkedHashMap<>();
            calls.put("getLong", () -> p.getLong(0));
            calls.put("setLong", () -> p.setLong(0, 1));
            calls.put("getInt", () -> p.getInt(0));
            calls.put("setInt", () -> p.setInt(0, 1));
            calls.put("getByte", () -> p.getByte(0));
            calls.put("setByte", () -> p.setByte(0, (byte) 1));
            calls.put("copyFrom", () -> p.copyFrom(buf, 0, 0, 8));
            calls.put("copyTo", () -> p.copyTo(0, buf, 0, 8));
            calls.forEach((name, call) -> {
                IllegalStateException e = assertThrows(IllegalStateException.class, call, name);
                assertTrue(e.getMessage().contains("'pin-after-close' is closed"), name + ": " + e.getMessage());
            });
        }
        p.close();
    }
}
