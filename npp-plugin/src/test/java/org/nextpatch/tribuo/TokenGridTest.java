package org.nextpatch.tribuo;

import org.junit.jupiter.api.Test;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.MutableDataset;
import org.tribuo.Output;
import org.tribuo.OutputFactory;
import org.tribuo.OutputInfo;
import org.tribuo.impl.ArrayExample;
import org.tribuo.provenance.SimpleDataSourceProvenance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The token-grid output type, its factory and infos, protobuf round trips, the class feature. */
class TokenGridTest {

    private static final int[] T4 = {1, 2, 3, 4};

    @Test
    void equalityIgnoresScoreFullEqualsComparesIt() {
        TokenGrid a = new TokenGrid(2, T4, -3.5);
        TokenGrid b = new TokenGrid(2, T4, -1.0);
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertFalse(a.fullEquals(b));
        assertTrue(a.fullEquals(b, 2.5));
        assertTrue(a.fullEquals(new TokenGrid(2, T4, -3.5)));
        assertTrue(TokenGrid.of(T4).fullEquals(TokenGrid.of(T4)), "NaN scores are equal to each other");
        assertNotEquals(a, new TokenGrid(2, new int[]{1, 2, 3, 5}));
        assertEquals(3, a.token(1, 0));
    }

    @Test
    void rejectsMalformedGrids() {
        assertThrows(IllegalArgumentException.class, () -> new TokenGrid(2, new int[]{1, 2, 3}));
        assertThrows(IllegalArgumentException.class, () -> new TokenGrid(1, new int[]{-1}));
        assertThrows(IllegalArgumentException.class, () -> TokenGrid.of(new int[5]));
    }

    @Test
    void stringFormRoundTrips() {
        TokenGrid a = new TokenGrid(2, T4, -2.25);
        TokenGridFactory f = new TokenGridFactory();
        assertEquals("2x2:1,2,3,4", a.getSerializableForm(false));
        assertEquals(a, f.generateOutput(a.getSerializableForm(false)));
        assertTrue(a.fullEquals(f.generateOutput(a.getSerializableForm(true))));
        assertEquals(a, f.generateOutput(new long[]{1, 2, 3, 4}));
        assertThrows(IllegalArgumentException.class, () -> f.generateOutput("2x3:1,2,3,4,5,6"));
    }

    @Test
    void protobufRoundTrips() {
        TokenGrid a = new TokenGrid(2, T4, -2.25);
        Output<?> back = Output.deserialize(a.serialize());
        assertTrue(a.fullEquals((TokenGrid) back));
        assertSame(TokenGrid.UNKNOWN, Output.deserialize(TokenGrid.UNKNOWN.serialize()));

        TokenGridFactory f = new TokenGridFactory();
        assertEquals(f, OutputFactory.deserialize(f.serialize()));
        assertEquals(TokenGrid.class, f.getTypeWitness());

        MutableTokenGridInfo info = new MutableTokenGridInfo();
        info.observe(a);
        info.observe(new TokenGrid(2, new int[]{9, 0, 0, 0}));
        info.observe(TokenGrid.UNKNOWN);
        OutputInfo<?> mBack = OutputInfo.deserialize(info.serialize());
        assertEquals(info, mBack);
        ImmutableOutputInfo<TokenGrid> imm = info.generateImmutableOutputInfo();
        OutputInfo<?> iBack = OutputInfo.deserialize(imm.serialize());
        assertEquals(imm, iBack);
        assertTrue(iBack instanceof ImmutableTokenGridInfo);
        assertEquals(2, ((ImmutableTokenGridInfo) iBack).getGridSide());
        assertEquals(10, ((ImmutableTokenGridInfo) iBack).getVocabularySeen());
        assertEquals(2, ((ImmutableTokenGridInfo) iBack).getTotalObservations());
        assertEquals(1, iBack.getUnknownCount());
    }

    @Test
    void infoRejectsMixedGridSides() {
        MutableTokenGridInfo info = new MutableTokenGridInfo();
        info.observe(TokenGrid.of(T4));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> info.observe(TokenGrid.of(new int[9])));
        assertTrue(e.getMessage().contains("side 3"), e.getMessage());
    }

    @Test
    void datasetsWorkAsUsualWithTheClassFeature() {
        MutableDataset<TokenGrid> ds = new MutableDataset<>(new SimpleDataSourceProvenance("test", new TokenGridFactory()),
                new TokenGridFactory());
        ds.add(ClassCondition.example(TokenGrid.of(T4), 0));
        ds.add(ClassCondition.example(TokenGrid.of(new int[]{5, 6, 7, 8}), 3));
        assertEquals(2, ds.size());
        // class@K = 1: class 0 is a feature Tribuo sees, as every other class
        assertEquals(2, ds.getFeatureMap().size());
        assertEquals(1, ds.getFeatureMap().get("class@0").getCount());
        assertEquals(1, ds.getFeatureMap().get("class@3").getCount());
        assertEquals(0, ClassCondition.classOf(ds.getExample(0), "class"));
        assertEquals(3, ClassCondition.classOf(ds.getExample(1), "class"));
        TokenGridInfo info = (TokenGridInfo) ds.getOutputInfo();
        assertEquals(2, info.getGridSide());
        assertEquals(9, info.getVocabularySeen());
    }

    @Test
    void classFeatureForms() {
        ArrayExample<TokenGrid> oneHot = new ArrayExample<>(TokenGrid.UNKNOWN);
        oneHot.add("class=2", 0.0);
        oneHot.add("class=7", 1.0);
        oneHot.add("other", 5.0);
        assertEquals(7, ClassCondition.classOf(oneHot, "class"));
        ArrayExample<TokenGrid> tribuoStyle = new ArrayExample<>(TokenGrid.UNKNOWN);
        tribuoStyle.add("class@4", 1.0);
        assertEquals(4, ClassCondition.classOf(tribuoStyle, "class"));
        assertEquals("class@4", ClassCondition.feature(4).getName());
        assertEquals(1.0, ClassCondition.feature(4).getValue());
        // the numeric form earlier versions wrote is still read
        ArrayExample<TokenGrid> numeric = new ArrayExample<>(TokenGrid.UNKNOWN);
        numeric.add("class", 6.0);
        assertEquals(6, ClassCondition.classOf(numeric, "class"));
    }

    @Test
    void clearErrorsForMissingOrUnknownClasses() {
        ArrayExample<TokenGrid> none = new ArrayExample<>(TokenGrid.UNKNOWN);
        none.add("pixel", 1.0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClassCondition.classOf(none, "class"));
        assertTrue(e.getMessage().contains("no class feature"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class,
                () -> ClassCondition.classOf(ClassCondition.request(12), "class", 10));
        assertEquals("unknown class 12: the model knows classes 0..9", e.getMessage());

        ArrayExample<TokenGrid> frac = new ArrayExample<>(TokenGrid.UNKNOWN);
        frac.add("class", 1.5);
        e = assertThrows(IllegalArgumentException.class, () -> ClassCondition.classOf(frac, "class"));
        assertTrue(e.getMessage().contains("whole number"), e.getMessage());

        // a weight other than 1 on a one-hot class feature is not a class (issue 21: class@1 = 0.5 was class 1)
        for (double w : new double[] {0.5, -1.0, 2.0, Double.NaN}) {
            ArrayExample<TokenGrid> weighted = new ArrayExample<>(TokenGrid.UNKNOWN);
            weighted.add("class@1", w);
            e = assertThrows(IllegalArgumentException.class, () -> ClassCondition.classOf(weighted, "class"),
                    "class@1 = " + w);
            assertTrue(e.getMessage().contains("must be 1"), e.getMessage());
        }

        ArrayExample<TokenGrid> two = new ArrayExample<>(TokenGrid.UNKNOWN);
        two.add("class=1", 1.0);
        two.add("class=2", 1.0);
        e = assertThrows(IllegalArgumentException.class, () -> ClassCondition.classOf(two, "class"));
        assertTrue(e.getMessage().contains("two class features"), e.getMessage());
    }
}
