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
			op := Op{Kind: OpKind(rapid.IntRange(int(OpPut), int(OpDeletePrefix)).Draw(t, "kind")),
				Key: rapid.SliceOfN(rapid.Byte(), 1, 20).Draw(t, "key")}
			if hasValue(op.Kind) {
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
		"kind 7":         {cmdVersion, 1, 7, 1, 'k'},
		"empty prefix":   {cmdVersion, 1, byte(OpDeletePrefix), 0},
		"empty key":      {cmdVersion, 1, byte(OpDelete), 0},
		"huge count":     {cmdVersion, 200, 1},
	} {
		_, err := decodeCommand(b)
		require.ErrorIs(t, err, ErrBadCommand, name)
	}
}

// FuzzDecodeCommand feeds arbitrary entry Data to what the FSM does with
// it: split a group, decode each command. Anything refused is
// ErrBadCommand, and what decodes encodes back to the same ops.
func FuzzDecodeCommand(f *testing.F) {
	one := encodeCommand([]Op{{Kind: OpPutExpiring, Key: []byte("k"), Value: []byte("v"), Expires: time.Unix(5, 0)}})
	f.Add(one)
	f.Add(encodeGroup([][]byte{one, encodeCommand([]Op{{Kind: OpDelete, Key: []byte("d")}, {Kind: OpDeletePrefix, Key: []byte("p")}})}))
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, group, err := splitEntry(b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadCommand)
			return
		}
		if group {
			again, _, err := splitEntry(encodeGroup(cmds))
			require.NoError(t, err)
			require.Equal(t, cmds, again)
		}
		for _, c := range cmds {
			ops, err := decodeCommand(c)
			if err != nil {
				require.ErrorIs(t, err, ErrBadCommand)
				continue
			}
			again, err := decodeCommand(encodeCommand(ops))
			require.NoError(t, err)
			require.Equal(t, len(ops), len(again))
		}
	})
}

func TestGroupSplitsIntoItsCommands(t *testing.T) {
	a := encodeCommand([]Op{{Kind: OpPut, Key: []byte("a"), Value: []byte("1")}})
	b := encodeCommand([]Op{{Kind: OpDelete, Key: []byte("b")}})
	cmds, group, err := splitEntry(encodeGroup([][]byte{a, b, a}))
	require.NoError(t, err)
	require.True(t, group)
	require.Equal(t, [][]byte{a, b, a}, cmds)

	// A plain command is an entry of one command, undecoded.
	cmds, group, err = splitEntry(a)
	require.NoError(t, err)
	require.False(t, group)
	require.Equal(t, [][]byte{a}, cmds)
}

func TestBadGroupRefused(t *testing.T) {
	good := encodeGroup([][]byte{{cmdVersion, 0}, {cmdVersion, 0}})
	for name, b := range map[string][]byte{
		"no count":       {groupVersion},
		"zero count":     {groupVersion, 0},
		"huge count":     {groupVersion, 200, 0},
		"truncated":      good[:len(good)-1],
		"member length":  {groupVersion, 1, 9, cmdVersion},
		"trailing bytes": append(append([]byte(nil), good...), 0),
	} {
		_, group, err := splitEntry(b)
		require.True(t, group, name)
		require.ErrorIs(t, err, ErrBadCommand, name)
	}
}
