package io.hotmem.internal.prim;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Memory from {@code Arena.ofShared().allocate}: zero-filled, resident at once, freed when the arena closes. */
final class ArenaBacking implements Backing {
    private final Arena arena;
    private final MemorySegment segment;

    ArenaBacking(long bytes, long align) {
        Arena a = Arena.ofShared();
        try {
            this.segment = a.allocate(bytes, align);
        } catch (OutOfMemoryError | IllegalArgumentException e) {
            a.close();
            throw new IllegalStateException("cannot allocate " + bytes + " bytes of arena memory: " + e, e);
        }
        this.arena = a;
    }

    @Override
    public MemorySegment segment() {
        return segment;
    }

    @Override
    public void release(long offset, long bytes) {
        // The JDK arena gives no way to return part of an allocation; the pages stay resident.
    }

    @Override
    public boolean canRelease() {
        return false;
    }

    @Override
    public void close() {
        arena.close();
    }
}
