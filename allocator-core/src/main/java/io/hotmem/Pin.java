package io.hotmem;

import java.lang.foreign.MemorySegment;

/**
 * A pinned allocation: while a pin is open the allocation does not move and cannot be freed, so its memory can be
 * used directly. Close it promptly (try-with-resources): a pinned block holds up every drain of its zone.
 *
 * <p>A pin belongs to the thread that uses it; it is not meant to be shared. {@link #close()} is idempotent.
 */
public interface Pin extends AutoCloseable {

    /**
     * Returns the pinned handle.
     *
     * @return the pinned handle
     */
    long handle();

    /**
     * The allocation's memory, {@code sizeOf(handle)} bytes long. Valid only while this pin is open: after
     * {@link #close()} the allocation may move or be freed, and the segment must not be used.
     *
     * @return the pinned memory
     * @throws IllegalStateException if the pin is closed
     */
    MemorySegment segment();

    /**
     * Reads a long at {@code offset} of the pinned allocation.
     *
     * @param offset byte offset in the allocation
     * @return the value
     * @throws IndexOutOfBoundsException if {@code [offset, offset + 8)} is not inside the allocation
     * @throws IllegalStateException if the pin is closed
     */
    long getLong(long offset);

    /**
     * Writes a long at {@code offset} of the pinned allocation.
     *
     * @param offset byte offset in the allocation
     * @param value the value
     * @throws IndexOutOfBoundsException if {@code [offset, offset + 8)} is not inside the allocation
     * @throws IllegalStateException if the pin is closed
     */
    void setLong(long offset, long value);

    /** Releases the pin; the allocation may move again. A second call does nothing. */
    @Override
    void close();
}
