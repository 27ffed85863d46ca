package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentileNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	require.Equal(t, time.Duration(100), Percentile(d, 50))
	require.Equal(t, time.Duration(198), Percentile(d, 99))
	require.Equal(t, time.Duration(200), Percentile(d, 100))
	require.Equal(t, time.Duration(1), Percentile(d[:1], 99))
	require.Zero(t, Percentile(nil, 50))
}

func TestCombinePoolsCalls(t *testing.T) {
	a := summarize([]time.Duration{3, 1}, 10)
	b := summarize([]time.Duration{2, 4}, 30)
	b.CPU = 8
	c := Combine(a, b)
	require.Equal(t, 4, c.N)
	require.Equal(t, time.Duration(40), c.Elapsed)
	require.Equal(t, []time.Duration{1, 2, 3, 4}, c.Latencies)
	require.Equal(t, time.Duration(2), c.P50)
	require.Equal(t, time.Duration(2), c.CPUPerCall())
}

func TestRunMakesEachCallOnce(t *testing.T) {
	const n = 1000
	var seen [n]atomic.Int32
	s, err := Run(context.Background(), func(_ context.Context, i int) error {
		seen[i].Add(1)
		return nil
	}, 8, n, 0)
	require.NoError(t, err)
	require.Equal(t, n, s.N)
	for i := range seen {
		require.Equal(t, int32(1), seen[i].Load(), "call %d", i)
	}
}

func TestRunStopsAtFirstError(t *testing.T) {
	_, err := Run(context.Background(), func(_ context.Context, i int) error {
		if i == 10 {
			return ErrExhausted
		}
		return nil
	}, 4, 1000, 0)
	require.ErrorIs(t, err, ErrExhausted)
}
