package engine_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/simplekv/simplekv/engine"
)

func Example() {
	dir, err := os.MkdirTemp("", "simplekv-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := engine.Open(dir, engine.Options{SyncWrites: true})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if err := db.Put([]byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	v, err := db.Get([]byte("greeting"))
	fmt.Println(string(v), err)

	_ = db.Delete([]byte("greeting"))
	_, err = db.Get([]byte("greeting"))
	fmt.Println(errors.Is(err, engine.ErrNotFound))
	// Output:
	// hello <nil>
	// true
}
