package replica

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestCommandRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Op {
			op := Op{Kind: OpKind(rapid.IntRange(int(OpPut), int(opMember)).Draw(t, "kind")),
				Key: rapid.SliceOfN(rapid.Byte(), 1, 20).Draw(t, "key")}
			if op.Kind != OpDelete {
				op.Value = rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "value")
			}
			if op.Kind == OpPutExpiring {
				op.Expires = time.Unix(0, rapid.Int64().Draw(t, "expires"))
			}
			return op
		}), 0, 10).Draw(t, "ops")
		got, err := decodeCommand(encodeCommand(ops))
		require.NoError(t, err)
		require.Len(t, got, len(ops))
		for i := range ops {
			require.Equal(t, ops[i].Kind, got[i].Kind)
			require.Equal(t, ops[i].Key, got[i].Key)
			require.Equal(t, len(ops[i].Value), len(got[i].Value))
			require.True(t, ops[i].Expires.Equal(got[i].Expires))
		}
	})
}

func TestBadCommandRefused(t *testing.T) {
	good := encodeCommand([]Op{{Kind: OpPut, Key: []byte("k"), Value: []byte("v")}})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"kind":           {cmdVersion, 1, 0, 1, 'k'},
		"empty key":      {cmdVersion, 1, byte(OpDelete), 0},
		"huge count":     {cmdVersion, 200, 1},
	} {
		_, err := decodeCommand(b)
		require.ErrorIs(t, err, ErrBadCommand, name)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(encodeCommand([]Op{{Kind: OpPutExpiring, Key: []byte("k"), Value: []byte("v"), Expires: time.Unix(5, 0)}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := decodeCommand(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadCommand)
			return
		}
		again, err := decodeCommand(encodeCommand(ops))
		require.NoError(t, err)
		require.Equal(t, len(ops), len(again))
	})
}
