/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Host test: a half-size pass read by the output, a persistent float sum",
    "INPUTS": [{"NAME": "increment", "TYPE": "float", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.1}],
    "PASSES": [
        {"TARGET": "halfSize", "WIDTH": "$WIDTH/2", "HEIGHT": "$HEIGHT/2"},
        {"TARGET": "sum", "PERSISTENT": true, "FLOAT": true, "WIDTH": 4, "HEIGHT": 2},
        {}
    ]
}*/

void main() {
    if (PASSINDEX == 0) {
        gl_FragColor = vec4(RENDERSIZE / 255.0, 0.0, 1.0);
    } else if (PASSINDEX == 1) {
        gl_FragColor = IMG_THIS_PIXEL(sum) + vec4(increment);
    } else {
        gl_FragColor = vec4(IMG_THIS_PIXEL(halfSize).rg, IMG_THIS_PIXEL(sum).r / 4.0, 1.0);
    }
}
