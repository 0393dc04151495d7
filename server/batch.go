package server

import (
	"encoding/base64"
	"net/http"
	"slices"
	"time"

	"github.com/simplekv/simplekv/replica"
)

// batchRequest is POST /batch's body.
type batchRequest struct {
	Ops      []batchOp `json:"ops"`
	Encoding string    `json:"encoding"` // "" (JSON strings as they are) or "base64"
}

type batchOp struct {
	Op    string `json:"op"` // put, delete, add or delete_prefix
	Key   string `json:"key"`
	Value string `json:"value"`
	TTL   string `json:"ttl"`
}

// maxBatchOps bounds one batch's ops.
const maxBatchOps = 100_000

func (s *Server) batch(w http.ResponseWriter, r *http.Request) error {
	var req batchRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ops, err := req.ops(time.Now())
	if err != nil {
		return err
	}
	res, err := s.store.Write(ops)
	if err != nil {
		return err
	}
	resp := map[string]any{"applied": len(ops)}
	if slices.ContainsFunc(ops, func(op replica.Op) bool { return op.Kind == replica.OpAddIfAbsent }) {
		resp["existed"] = res.Existed // per op: whether an add's key was there
	}
	return writeJSON(w, http.StatusOK, resp)
}

// ops checks the whole request before anything is proposed: a bad op
// fails the batch and applies nothing.
func (req *batchRequest) ops(now time.Time) ([]replica.Op, error) {
	if len(req.Ops) == 0 || len(req.Ops) > maxBatchOps {
		return nil, badRequest("a batch needs 1 to %d ops, not %d", maxBatchOps, len(req.Ops))
	}
	decode := func(s string) ([]byte, error) { return []byte(s), nil }
	switch req.Encoding {
	case "":
	case "base64":
		decode = base64.StdEncoding.DecodeString
	default:
		return nil, badRequest("encoding %q: want base64 or none", req.Encoding)
	}
	ops := make([]replica.Op, 0, len(req.Ops))
	for i, o := range req.Ops {
		key, err := decode(o.Key)
		if err != nil {
			return nil, badRequest("op %d: key: %v", i, err)
		}
		value, err := decode(o.Value)
		if err != nil {
			return nil, badRequest("op %d: value: %v", i, err)
		}
		if len(key) == 0 {
			return nil, badRequest("op %d: empty key", i)
		}
		op := replica.Op{Key: key, Value: value}
		switch o.Op {
		case "put":
			op.Kind = replica.OpPut
			if o.TTL != "" {
				d, err := time.ParseDuration(o.TTL)
				if err != nil || d <= 0 {
					return nil, badRequest("op %d: ttl %q: want a positive duration", i, o.TTL)
				}
				op.Kind, op.Expires = replica.OpPutExpiring, now.Add(d)
			}
		case "delete":
			op.Kind, op.Value = replica.OpDelete, nil
		case "add":
			op.Kind = replica.OpAddIfAbsent
		case "delete_prefix":
			op.Kind, op.Value = replica.OpDeletePrefix, nil
		default:
			return nil, badRequest("op %d: %q: want put, delete, add or delete_prefix", i, o.Op)
		}
		if o.TTL != "" && op.Kind != replica.OpPutExpiring {
			return nil, badRequest("op %d: ttl applies to put only", i)
		}
		ops = append(ops, op)
	}
	return ops, nil
}
