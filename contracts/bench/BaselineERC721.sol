// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title Baseline for the gas benchmark
/// @notice A plain OpenZeppelin 5 ERC-721: what a brand would otherwise pick to put items on
///         chain. Used only by `veritag bench gas`; anyone may mint.
contract BaselineERC721 is ERC721 {
    constructor() ERC721("Baseline", "BASE") {}

    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }

    function mintBatch(address to, uint256[] calldata tokenIds) external {
        for (uint256 i; i < tokenIds.length; ++i) {
            _mint(to, tokenIds[i]);
        }
    }
}
