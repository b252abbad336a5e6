package io.hotmem.internal;

import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.ZoneType;
import io.hotmem.internal.prim.AddressRange;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/** Zones on real memory for the engine's tests, and an address range whose releases a test can count, check or fail. */
final class TestZones {
    private TestZones() {
    }

    /**
     * @return a plugged, open zone of {@code pages} pages on a node of its own, over the start of {@code range};
     *         the calling thread holds its lock
     */
    static Zone plugged(ZoneType type, int pages, int pageShift, int maxOrder, double residentFreeLimit,
                        AddressRange range) {
        Node node = new Node(0, NodeSpec.fixed((long) pages << pageShift), 0, new Zone[1]);
        Zone z = new Zone(0, type, node, 0, pages, pageShift, maxOrder, new Ticker(), residentFreeLimit);
        node.zones[0] = z;
        z.lock.lock();
        z.plugLocked(range.segment().asSlice(0, (long) pages << pageShift), range);
        z.setOpenLocked(true);
        return z;
    }

    /** @return the zone's free pages that are resident (free and not purged) */
    static long residentFree(Zone z) {
        return z.freePagesLocked() - z.purgedPagesLocked();
    }

    /**
     * An MMAP range that counts its releases, hands each to {@link #check} first, and fails them while
     * {@link #failing} (as {@code madvise(MADV_DONTNEED)} does on mlock-ed memory: EINVAL).
     */
    static class RecordingRange implements AddressRange {
        final AddressRange real;
        final int pageShift;
        /** Releases asked for, failed ones included. */
        int releases;
        boolean failing;

        RecordingRange(long bytes, int pageShift) {
            this.real = AddressRange.reserve(MemoryBacking.MMAP, bytes, 1L << pageShift);
            this.pageShift = pageShift;
        }

        /** Called with each release before it is carried out; a subclass fails the test here. */
        void check(long offset, long bytes) {
        }

        @Override
        public MemorySegment segment() {
            return real.segment();
        }

        @Override
        public void release(long offset, long bytes) {
            releases++;
            check(offset, bytes);
            if (failing) {
                throw new IllegalStateException("madvise(MADV_DONTNEED, " + bytes + " bytes) failed: errno 22");
            }
            real.release(offset, bytes);
        }

        @Override
        public boolean canRelease() {
            return true;
        }

        @Override
        public void close(boolean keepMapped) {
            real.close(keepMapped);
        }
    }

    /**
     * A 512 MiB zone of 4 KiB pages (reserved; a fraction touched) under a resident free limit of 0.9, with four
     * live 4 MiB blocks ({@code big}) and 73,728 single pages ({@code small}, sorted, each touched) of which every
     * other one is freed: 36,864 resident free single pages, each beside a live buddy, just within the limit of the
     * 40,960 active pages. A free that lowers the active pages then takes the zone over its limit in single pages.
     */
    record FreeSinglesNearTheLimit(Zone zone, RecordingRange range, int[] big, int[] small) {
        static FreeSinglesNearTheLimit build() {
            int pages = 1 << 17;
            RecordingRange range = new RecordingRange((long) pages << 12, 12);
            Zone z = plugged(ZoneType.MOVABLE, pages, 12, 10, 0.9, range);
            int blocks = 4;
            int[] big = new int[blocks];
            for (int i = 0; i < blocks; i++) {
                big[i] = z.allocateLocked(10, 1 + i, true); // 4 MiB
            }
            int singles = 9 * 1024 * blocks; // 36,864 <= 0.9 x 40,960
            int[] small = new int[2 * singles];
            for (int i = 0; i < small.length; i++) {
                small[i] = z.allocateLocked(0, 100 + i, true);
                z.memory.set(ValueLayout.JAVA_BYTE, z.byteOffset(small[i]), (byte) 1);
            }
            Arrays.sort(small);
            for (int i = 0; i < small.length; i += 2) {
                z.freeLocked(small[i]); // every other page: each free single has a live buddy
            }
            return new FreeSinglesNearTheLimit(z, range, big, small);
        }
    }
}
