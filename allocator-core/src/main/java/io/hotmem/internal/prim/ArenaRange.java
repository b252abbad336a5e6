package io.hotmem.internal.prim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A range from {@code Arena.ofShared().allocate}: zero-filled and resident at once, for the allocator's life.
 * Releasing a part zeroes it (the JDK arena gives no way to return part of an allocation; the pages stay resident)
 * so that an unplugged node reads as zeros, as with MMAP.
 */
final class ArenaRange implements AddressRange {
    /** Owns the memory. */
    private final Arena memory;
    /** Scopes the internal segment: closed at {@link #close} even when the memory stays. */
    private final Arena internal;
    private final MemorySegment segment;

    ArenaRange(long bytes, long align) {
        Arena a = Arena.ofShared();
        MemorySegment all;
        try {
            all = a.allocate(bytes, align);
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            a.close();
            throw new IllegalStateException("cannot allocate " + bytes + " bytes of arena memory: " + e, e);
        }
        this.memory = a;
        this.internal = Arena.ofShared();
        this.segment = all.reinterpret(internal, null);
    }

    @Override
    public MemorySegment segment() {
        return segment;
    }

    @Override
    public void release(long offset, long bytes) {
        segment.asSlice(offset, bytes).fill((byte) 0);
    }

    @Override
    public boolean canRelease() {
        return false;
    }

    @Override
    public synchronized void close(boolean keepMapped) {
        if (internal.scope().isAlive()) {
            internal.close();
        }
        if (!keepMapped && memory.scope().isAlive()) {
            memory.close();
        }
    }
}
