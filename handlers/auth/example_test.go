package auth_test

import (
	"fmt"

	"github.com/baton-run/baton/handlers/auth"
)

// What `baton user add` stores, and what the login form checks.
func ExampleHashPassword() {
	hash, err := auth.HashPassword("correct horse battery")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(auth.CheckPassword(hash, "correct horse battery"), auth.CheckPassword(hash, "wrong"))
	// Output: true false
}

// What `baton token create` prints once (plain) and stores (hash, prefix).
func ExampleNewToken() {
	plain, hash, prefix, err := auth.NewToken()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(hash), prefix == plain[:len(prefix)], auth.HashToken(plain) == hash)
	// Output: 64 true true
}
