/*{
    "DESCRIPTION": "Test generator whose imported image file does not exist",
    "IMPORTED": {
        "noiseTexture": {"PATH": "no_such_noise.png"}
    }
}*/

void main() { gl_FragColor = IMG_THIS_PIXEL(noiseTexture); }
