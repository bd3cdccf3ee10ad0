package dev.cramjet.data;

import dev.cramjet.Hash;
import dev.cramjet.CramjetException;



/**
 * The train/validation split, by document: a document goes to validation when a hash of its fingerprint and the
 * seed falls below the validation fraction. It depends only on the document's content, so the same document lands
 * on the same side on every run and whatever else the corpus holds.
 */
public record Split(double validationFraction, long seed) {
    public Split {
        if (!(validationFraction >= 0 && validationFraction < 1)) {
            throw new CramjetException("--val-fraction must be in [0, 1), got " + validationFraction);
        }
    }

    public boolean isValidation(long fingerprint) {
        return (Hash.mix(fingerprint ^ Hash.mix(seed)) >>> 11) * 0x1p-53 < validationFraction;
    }
}
