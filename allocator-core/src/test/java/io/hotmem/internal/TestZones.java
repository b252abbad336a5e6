package io.hotmem.internal;

import io.hotmem.MemoryBacking;
import io.hotmem.NodeSpec;
import io.hotmem.ZoneType;
import io.hotmem.internal.prim.AddressRange;

import java.lang.foreign.MemorySegment;

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
}
