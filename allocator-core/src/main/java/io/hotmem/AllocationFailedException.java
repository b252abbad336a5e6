package io.hotmem;

import java.io.Serial;

/**
 * No zone that the request may use can serve it. The message names the size, the flags and the zones tried with
 * their free pages. {@code tryAllocate} returns {@link PageAllocator#NULL_HANDLE} instead of throwing this.
 */
public class AllocationFailedException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message the request and the zones tried
     */
    public AllocationFailedException(String message) {
        super(message);
    }
}
