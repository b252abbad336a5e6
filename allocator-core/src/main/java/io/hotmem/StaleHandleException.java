package io.hotmem;

import java.io.Serial;

/**
 * A handle that does not name a live allocation of this allocator: freed, freed twice, from another allocator, or
 * garbage. Thrown before any memory is touched.
 */
public class StaleHandleException extends IllegalStateException {
    @Serial
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what is wrong with which handle
     */
    public StaleHandleException(String message) {
        super(message);
    }
}
