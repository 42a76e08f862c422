/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Test filter whose first pass samples the target the second pass draws (not persistent)",
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image"}
    ],
    "PASSES": [
        {"TARGET": "early"},
        {"TARGET": "later"},
        {}
    ]
}*/

void main() {
    if (PASSINDEX == 0) {
        gl_FragColor = IMG_THIS_PIXEL(later);
    } else if (PASSINDEX == 1) {
        gl_FragColor = IMG_THIS_PIXEL(inputImage);
    } else {
        gl_FragColor = IMG_THIS_PIXEL(early);
    }
}
