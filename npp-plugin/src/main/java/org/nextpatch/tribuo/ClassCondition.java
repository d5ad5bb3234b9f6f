package org.nextpatch.tribuo;

import org.tribuo.Example;
import org.tribuo.Feature;
import org.tribuo.impl.ArrayExample;

/**
 * The class condition of an NPP example as an ordinary Tribuo feature, so that {@code Example}s,
 * {@code Dataset}s and {@code DataSource}s work as usual.
 * <p>
 * The canonical form is Tribuo's columnar naming of a categorical value: one feature
 * {@code class@K} with value 1 for class K. Every class is then a feature of its own that Tribuo's
 * tools see (a feature map lists {@code class@0} with its count; a numeric {@code class = 0} would be
 * an implicit zero that Tribuo drops). Also read: the numeric form {@code class = K} (earlier
 * versions wrote it) and a one-hot {@code class=K}. A one-hot feature must have the value 1 (0 is an
 * explicit "not this class" and ignored); any other value is refused. Other features are ignored.
 */
public final class ClassCondition {

    /** The default name of the class feature. */
    public static final String DEFAULT_NAME = "class";

    private ClassCondition() {
    }

    /** The canonical class feature {@code class@k = 1}. */
    public static Feature feature(int classIndex) {
        return feature(DEFAULT_NAME, classIndex);
    }

    /** The canonical class feature with a custom name: {@code name@k = 1}. */
    public static Feature feature(String name, int classIndex) {
        if (classIndex < 0) {
            throw new IllegalArgumentException("class index must be non-negative, got " + classIndex);
        }
        return new Feature(featureName(name, classIndex), 1.0);
    }

    /** The name of class {@code k}'s feature: {@code name@k}. */
    public static String featureName(String name, int classIndex) {
        return name + "@" + classIndex;
    }

    /**
     * An example with a grid and its class: the form the data sources produce.
     *
     * @param grid       ground truth (or {@link TokenGrid#UNKNOWN} for generation requests)
     * @param classIndex the class the grid belongs to
     */
    public static ArrayExample<TokenGrid> example(TokenGrid grid, int classIndex) {
        ArrayExample<TokenGrid> ex = new ArrayExample<>(grid);
        ex.add(feature(classIndex));
        return ex;
    }

    /** A generation request: an example with an unknown output and a class. */
    public static ArrayExample<TokenGrid> request(int classIndex) {
        return example(TokenGrid.UNKNOWN, classIndex);
    }

    /**
     * The class index of an example.
     *
     * @param example     the example
     * @param featureName the class feature's name
     * @throws IllegalArgumentException when the example has no class feature, more than one, or a
     *                                  value that is not a non-negative whole number
     */
    public static int classOf(Example<?> example, String featureName) {
        int found = -1;
        String foundName = null;
        for (Feature f : example) {
            String n = f.getName();
            int k;
            if (n.equals(featureName)) {
                k = indexFromValue(f.getValue(), featureName);
            } else if (n.length() > featureName.length() + 1 && n.startsWith(featureName)
                    && (n.charAt(featureName.length()) == '=' || n.charAt(featureName.length()) == '@')) {
                if (f.getValue() == 0.0) {
                    continue;  // an explicit zero of a one-hot encoding
                }
                if (f.getValue() != 1.0) {
                    // A fractional or negative weight would be a mixture of classes, which a class
                    // condition cannot express: refuse it rather than round it to one class.
                    throw new IllegalArgumentException("class feature '" + n + "' has value " + f.getValue()
                            + ": a one-hot class feature must be 1 (or 0, ignored)");
                }
                String suffix = n.substring(featureName.length() + 1);
                try {
                    k = Integer.parseInt(suffix);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("class feature '" + n + "' does not name a class index");
                }
                if (k < 0) {
                    throw new IllegalArgumentException("class feature '" + n + "' names a negative class");
                }
            } else {
                continue;
            }
            if (found >= 0 && k != found) {
                throw new IllegalArgumentException("example has two class features ('" + foundName + "' and '"
                        + n + "')");
            }
            found = k;
            foundName = n;
        }
        if (found < 0) {
            throw new IllegalArgumentException("example has no class feature: add '" + featureName
                    + "@K' = 1 for class K (ClassCondition.feature(K))");
        }
        return found;
    }

    /**
     * The class index of an example, checked against the number of classes a model knows.
     *
     * @throws IllegalArgumentException as {@link #classOf(Example, String)}, or for an unknown class
     */
    public static int classOf(Example<?> example, String featureName, int numClasses) {
        int k = classOf(example, featureName);
        if (k >= numClasses) {
            throw new IllegalArgumentException("unknown class " + k + ": the model knows classes 0.."
                    + (numClasses - 1));
        }
        return k;
    }

    private static int indexFromValue(double v, String name) {
        if (Double.isNaN(v) || v < 0 || v != Math.rint(v) || v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("class feature '" + name + "' must hold a class index "
                    + "(a non-negative whole number), got " + v);
        }
        return (int) v;
    }
}
